"""Text from files and servers made safe to print: no control characters, bounded length.

A GGUF architecture name, a file name or an HTTP reason phrase can hold newlines and terminal
escape sequences (ESC [ 2 J clears the screen); echoed raw into an error they rewrite the
user's terminal or forge extra lines. Every such character becomes a visible escape
(`\\x1b`, `\\n`), as `repr` would write it, and long text is cut.
"""

from __future__ import annotations

import unicodedata

MAX_CHARS = 300


def _escape(ch: str) -> str:
    o = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def printable(text: object, limit: int | None = MAX_CHARS) -> str:
    """`text` with every control/format/unassigned/surrogate character escaped, cut to `limit` chars."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable() and (limit is None or len(s) <= limit):
        return s  # fast path: nearly every message
    out = []
    n = 0
    for ch in s:
        # Cc control, Cf format (bidi overrides), Cs surrogate, Co private, Cn unassigned,
        # Zl/Zp line and paragraph separators: all can move the cursor or hide text.
        piece = _escape(ch) if (unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029") else ch
        n += len(piece)
        if limit is not None and n > limit:
            out.append("...")
            break
        out.append(piece)
    return "".join(out)
