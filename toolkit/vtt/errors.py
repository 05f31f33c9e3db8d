"""One family of user-facing errors; the CLI turns them into one line and an exit code.

Anything that is not a VttError is a bug and keeps its traceback (as asv does).
"""

from __future__ import annotations

from vtt.textsafe import printable

MAX_MESSAGE_CHARS = 2000

# Exit codes: 0 ok, 1 the answer is "no" (check violated, drift found), 2 bad input, 3 environment.
EXIT_NO = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3


class VttError(Exception):
    """A failure the user can act on. `code` is snake_case, `message` one line naming the noun and value."""

    code = "error"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None):
        # Messages quote file names, header strings and server replies: made printable here,
        # once, so no caller can forget (no newline or terminal escape reaches the screen).
        message = printable(message, MAX_MESSAGE_CHARS)
        if hint is not None:
            hint = "\n".join(printable(line, MAX_MESSAGE_CHARS) for line in str(hint).split("\n"))
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code:
            self.code = code

    def to_dict(self) -> dict:
        d = {"code": self.code, "message": self.message}
        if self.hint:
            d["hint"] = self.hint
        return d


class SpecError(VttError):
    """A spec file is malformed: the message names file, line and field."""

    code = "bad_spec"


class UnknownName(VttError):
    """A model, quant, hardware or backend id that is not in the catalog."""

    code = "unknown_name"


class BadQuery(VttError):
    """A query value out of range (negative context, depth beyond context ...)."""

    code = "bad_query"


class GgufError(VttError):
    """A GGUF header that is malformed, truncated, hostile or unreachable."""

    code = "bad_gguf"


class RemoteError(VttError):
    """An HTTP(S) source that could not be read (refused, timed out, no Range support)."""

    code = "remote_unreachable"
    exit_code = EXIT_ENVIRONMENT


class EnvironmentProblem(VttError):
    """llama-bench missing or crashed, database locked, a build failed."""

    code = "environment"
    exit_code = EXIT_ENVIRONMENT
