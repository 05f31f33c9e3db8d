"""A bounded reader for GGUF v2/v3 headers: metadata and tensor table, never the weights.

Why not `gguf.GGUFReader`: it memory-maps the whole file (so it cannot read over HTTP and
needs the file on disk), it trusts the counts and lengths it finds (a hostile header that
claims 2**62 tensors or a 1 TiB string makes it allocate or loop without end), it turns every
token into a numpy object (slow for 150k-entry vocabularies), and `import gguf` alone costs
~0.25 s, a big part of `vtt plan`'s start-up budget. This parser reads growing chunks from a
`ByteSource`, caps every count, length and byte total, and turns every malformation into a
one-line `GgufError` that says "gguf" and names the file.

Format (ggml/docs/gguf.md): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv times
(string key, u32 type, value); n_tensors times (string name, u32 n_dims, u64 ne[n_dims],
u32 ggml type, u64 offset); padding to `general.alignment` (default 32); tensor data.
Strings are u64 length + UTF-8 bytes; arrays are u32 element type + u64 count + elements.
"""

from __future__ import annotations

import array
import math
import os
import struct
import sys
from dataclasses import dataclass, field
from typing import Any

from vtt import ggml_types
from vtt.errors import GgufError, VttError
from vtt.textsafe import printable
from vtt.gguf.source import ByteSource, ReadBudget, open_source, part_name, split_parts

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)

# Caps: far above any real model, far below what would exhaust memory or time.
MAX_TENSORS = 65536
MAX_KV = 65536
MAX_STRING_BYTES = 16 * 2**20  # a chat template is ~100 KB; tokens are a few bytes
MAX_ARRAY_LEN = 16 * 2**20
MAX_NESTED_ARRAY_LEN = 65536  # arrays of arrays: each element costs a Python object
MAX_HEADER_BYTES = 256 * 2**20  # where the tensor data may start, per part (real: < 16 MiB)
MAX_DEPTH = 3
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ELEMENTS = 2**50  # a 1-quadrillion-element tensor is not a model
# gguf-split's default is 128 tensors per part; the largest published splits have ~50 parts
# (Kimi-K2 BF16: 46). Each part is one more header to fetch, so the count is bounded.
MAX_PARTS = 256
FIRST_CHUNK = 256 * 2**10
MAX_READAHEAD = 8 * 2**20  # fetch at most this far past what the parser needs
KEEP_STRINGS = 1024  # string arrays longer than this are counted, not kept
KEEP_SCALARS = 65536  # numeric arrays longer than this (token scores, types) are skipped, not read
MAX_KEPT_BYTES = 32 * 2**20  # strings kept in memory, all keys together (a chat template is ~100 KB)
# Parts 2.. of a split hold only split.* keys (tools/gguf-split/gguf-split.cpp: the full KV set
# goes to split 0 only), so their metadata is small; junk there must not cost a download.
PART_METADATA_CAP = 2**20
PART_TENSORS_CAP = 16 * 2**20  # a part's tensor table: 65536 tensors x ~120 bytes at most

# GGUF value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR = {  # type -> (struct code, array code, size)
    UINT8: ("B", "B", 1), INT8: ("b", "b", 1), UINT16: ("H", "H", 2), INT16: ("h", "h", 2),
    UINT32: ("I", "I", 4), INT32: ("i", "i", 4), FLOAT32: ("f", "f", 4), BOOL: ("?", "B", 1),
    UINT64: ("Q", "Q", 8), INT64: ("q", "q", 8), FLOAT64: ("d", "d", 8),
}
TYPE_NAMES = {UINT8: "uint8", INT8: "int8", UINT16: "uint16", INT16: "int16", UINT32: "uint32",
              INT32: "int32", FLOAT32: "float32", BOOL: "bool", STRING: "string", ARRAY: "array",
              UINT64: "uint64", INT64: "int64", FLOAT64: "float64"}


@dataclass(frozen=True)
class SkippedArray:
    """A long string array (token list, merges) walked over but not kept: only its length."""

    elem_type: str
    count: int

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: str  # ggml type name, lower case ("q4_k", "f16", "mxfp4")
    ne: tuple[int, ...]  # ggml order: ne[0] is the row length
    n_bytes: int
    offset: int  # from the start of this part's tensor data
    part: int = 1

    @property
    def n_elements(self) -> int:
        return math.prod(self.ne)


@dataclass
class GgufHeader:
    name: str  # file name or URL of (the first part of) the model
    version: int
    alignment: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    header_bytes: int  # offset of the tensor data in the first part (header + padding)
    bytes_read: int  # bytes fetched from the source(s), all parts
    file_size: int | None = None  # all parts, when known
    parts: int = 1
    notes: list[str] = field(default_factory=list)
    value_types: dict[str, str] = field(default_factory=dict)  # key -> GGUF type ("uint32", "array[string]")

    @property
    def arch(self) -> str | None:
        a = self.metadata.get("general.architecture")
        return a if isinstance(a, str) else None

    @property
    def tensor_bytes(self) -> int:
        """Sum of every tensor's data: the weights, all parts."""
        return sum(t.n_bytes for t in self.tensors)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def array_len(self, key: str) -> int | None:
        v = self.metadata.get(key)
        if v is None or isinstance(v, (str, bytes, int, float)):
            return None
        return len(v)


class _Parser:
    """Sequential parse over a sliding window of the source.

    `buf` holds the bytes [base, base + len(buf)) of the file; `pos` is an absolute offset.
    Bytes behind `pos` are dropped before each fetch, so memory follows the largest single
    value kept (a 16 MiB string at most), not the header size; numeric arrays too long to be
    of use are skipped by offset, without fetching them.
    """

    def __init__(self, src: ByteSource, name: str):
        self.src = src
        self.name = name
        self.buf = bytearray()
        self.base = 0
        self.pos = 0
        self.e = "<"  # endianness prefix
        self.limit = MAX_HEADER_BYTES  # no header byte past this offset
        self.limit_what = f"header larger than the {MAX_HEADER_BYTES >> 20} MiB cap"
        self.kept = 0  # bytes of strings kept

    def fail(self, what: str) -> GgufError:
        # `what` quotes the file's own strings (a key can be megabytes of garbage): bounded here, so the
        # message's cut (VttError) never takes the file's name off its end
        return GgufError(f"gguf: {printable(what)} in {self.name}")

    def need(self, end: int) -> None:
        """Make the window hold bytes [pos, end): fetch ahead a little, never past the header cap."""
        if end <= self.base + len(self.buf):
            return
        if end > self.limit:
            raise self.fail(self.limit_what)
        drop = self.pos - self.base  # what is behind the parser (or skipped past the window)
        if drop > 0:
            if drop >= len(self.buf):
                self.buf.clear()
            else:
                del self.buf[:drop]
            self.base = self.pos
        # Read-ahead grows with the offset, so the bytes fetched stay below 2x those needed.
        target = end + min(max(FIRST_CHUNK, end), MAX_READAHEAD)
        target = min(target, self.limit)
        if self.src.size is not None:
            target = min(target, max(self.src.size, end))
        while self.base + len(self.buf) < end:
            have = self.base + len(self.buf)
            data = self.src.read(have, target - have)
            if not data:
                raise self.fail(f"truncated header (ends at byte {have}, needed {end})")
            self.buf += data

    def take(self, n: int) -> bytes:
        self.need(self.pos + n)
        i = self.pos - self.base
        v = bytes(self.buf[i:i + n])
        self.pos += n
        return v

    def skip(self, n: int) -> None:
        """Step over n bytes without fetching them (the next read starts past them)."""
        if self.pos + n > self.limit:
            raise self.fail(self.limit_what)
        self.pos += n

    def keep(self, n: int, key: str) -> None:
        self.kept += n
        if self.kept > MAX_KEPT_BYTES:
            raise self.fail(f"metadata strings larger than the {MAX_KEPT_BYTES >> 20} MiB cap (at key {key})")

    def u32(self) -> int:
        self.need(self.pos + 4)
        v = struct.unpack_from(self.e + "I", self.buf, self.pos - self.base)[0]
        self.pos += 4
        return v

    def u64(self) -> int:
        self.need(self.pos + 8)
        v = struct.unpack_from(self.e + "Q", self.buf, self.pos - self.base)[0]
        self.pos += 8
        return v

    def string_bytes(self, what: str) -> bytes:
        n = self.u64()
        if n > MAX_STRING_BYTES:
            raise self.fail(f"{what} length {n} exceeds the {MAX_STRING_BYTES >> 20} MiB cap")
        return bytes(self.take(n))

    def string(self, what: str) -> str:
        b = self.string_bytes(what)
        self.keep(len(b), what)
        return b.decode("utf-8", errors="replace")

    def value(self, vtype: int, key: str, depth: int = 0) -> Any:
        if vtype in _SCALAR:
            code, _, size = _SCALAR[vtype]
            self.need(self.pos + size)
            v = struct.unpack_from(self.e + code, self.buf, self.pos - self.base)[0]
            self.pos += size
            return v
        if vtype == STRING:
            return self.string(f"string value of {key}")
        if vtype == ARRAY:
            if depth >= MAX_DEPTH:
                raise self.fail(f"arrays nested deeper than {MAX_DEPTH} at key {key}")
            etype = self.u32()
            count = self.u64()
            if count > MAX_ARRAY_LEN:
                raise self.fail(f"array length {count} of key {key} exceeds the cap of {MAX_ARRAY_LEN}")
            return self.array(etype, count, key, depth + 1)
        raise self.fail(f"unknown value type {vtype} at key {key}")

    def array(self, etype: int, count: int, key: str, depth: int) -> Any:
        if etype in _SCALAR:
            _, acode, size = _SCALAR[etype]
            if count > KEEP_SCALARS:
                self.skip(count * size)
                return SkippedArray(TYPE_NAMES[etype], count)
            raw = self.take(count * size)
            a = array.array(acode)
            a.frombytes(raw)
            if self.e == ">" and size > 1:
                a.byteswap()
            if etype == BOOL:
                return [bool(x) for x in a]
            return a.tolist()
        if etype == STRING:
            if count <= KEEP_STRINGS:
                return self.strings(count, key)
            self.skip_strings(count, key)
            return SkippedArray("string", count)
        if etype == ARRAY:
            if count > MAX_NESTED_ARRAY_LEN:
                raise self.fail(f"array of arrays of length {count} at key {key} exceeds the cap")
            return [self.value(ARRAY, key, depth) for _ in range(count)]
        raise self.fail(f"unknown array element type {etype} at key {key}")

    def strings(self, count: int, key: str) -> list[str]:
        unpack = struct.Struct(self.e + "Q").unpack_from
        out = []
        for _ in range(count):
            self.need(self.pos + 8)
            n = unpack(self.buf, self.pos - self.base)[0]
            if n > MAX_STRING_BYTES:
                raise self.fail(f"string length {n} in array {key} exceeds the {MAX_STRING_BYTES >> 20} MiB cap")
            end = self.pos + 8 + n
            self.keep(n, key)
            self.need(end)
            i = self.pos - self.base
            out.append(self.buf[i + 8:i + 8 + n].decode("utf-8", errors="replace"))
            self.pos = end
        return out

    def skip_strings(self, count: int, key: str) -> None:
        """Walk `count` length-prefixed strings without making Python objects of them."""
        unpack = struct.Struct(self.e + "Q").unpack_from
        pos = self.pos
        buf, base = self.buf, self.base
        for _ in range(count):
            if pos + 8 > base + len(buf):
                self.pos = pos  # lets need() drop what is behind
                self.need(pos + 8)
                buf, base = self.buf, self.base
            n = unpack(buf, pos - base)[0]
            if n > MAX_STRING_BYTES:
                raise self.fail(f"string length {n} in array {key} exceeds the {MAX_STRING_BYTES >> 20} MiB cap")
            pos += 8 + n
        self.pos = pos
        self.need(pos)


def _parse(src: ByteSource, name: str, part: int = 1) -> GgufHeader:
    p = _Parser(src, name)
    if part > 1:
        p.limit = PART_METADATA_CAP
        p.limit_what = f"metadata of split part {part} larger than {PART_METADATA_CAP >> 10} KiB (only split.* keys belong there)"
    try:
        p.need(4)
    except GgufError:
        raise p.fail("file shorter than the 4-byte magic") from None
    magic = bytes(p.take(4))
    if magic != MAGIC:
        raise p.fail(f"bad magic {magic!r} (expected b'GGUF'): not a GGUF file")
    raw = bytes(p.take(4))
    version = struct.unpack("<I", raw)[0]
    if version & 0xFFFF == 0 and struct.unpack(">I", raw)[0] in SUPPORTED_VERSIONS:  # big-endian file
        p.e = ">"
        version = struct.unpack(">I", raw)[0]
    if version not in SUPPORTED_VERSIONS:
        raise p.fail(f"unsupported version {version} (vtt reads GGUF v2 and v3)")
    n_tensors = p.u64()
    n_kv = p.u64()
    if n_tensors > MAX_TENSORS:
        raise p.fail(f"tensor count {n_tensors} exceeds the cap of {MAX_TENSORS}")
    if n_kv > MAX_KV:
        raise p.fail(f"metadata count {n_kv} exceeds the cap of {MAX_KV}")

    metadata: dict[str, Any] = {}
    vtypes: dict[str, str] = {}
    for _ in range(n_kv):
        key = p.string("key")
        if key in metadata:
            raise p.fail(f"duplicate metadata key {key!r}")
        vtype = p.u32()
        pos0 = p.pos
        if vtype == ARRAY:
            p.need(p.pos + 4)
            etype = struct.unpack_from(p.e + "I", p.buf, pos0 - p.base)[0]
            vtypes[key] = f"array[{TYPE_NAMES.get(etype, etype)}]"
        else:
            vtypes[key] = TYPE_NAMES.get(vtype, str(vtype))
        metadata[key] = p.value(vtype, key)

    if part > 1:
        p.limit = p.pos + PART_TENSORS_CAP
        p.limit_what = f"tensor table of split part {part} larger than {PART_TENSORS_CAP >> 20} MiB"
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 \
            or alignment & (alignment - 1) or alignment > 2**20:
        raise p.fail(f"bad general.alignment {alignment!r} (must be a power of two)")

    types = ggml_types.type_by_id()
    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    for _ in range(n_tensors):
        tname = p.string("tensor name")
        if tname in seen:
            raise p.fail(f"duplicate tensor {tname!r}")
        seen.add(tname)
        n_dims = p.u32()
        if not 1 <= n_dims <= MAX_DIMS:
            raise p.fail(f"tensor {tname} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
        ne = tuple(p.u64() for _ in range(n_dims))
        n_el = 1
        for d in ne:
            if d <= 0 or d >= 2**63:
                raise p.fail(f"tensor {tname} has dimension {d}")
            n_el *= d
        if n_el > MAX_ELEMENTS:
            raise p.fail(f"tensor {tname} has an absurd shape {list(ne)}")
        tid = p.u32()
        tname_type = types.get(tid)
        if tname_type is None:
            raise p.fail(f"tensor {tname} has unknown ggml type id {tid}")
        blk = ggml_types.block_size(tname_type)
        if ne[0] % blk:
            raise p.fail(f"tensor {tname} row length {ne[0]} is not a multiple of the {tname_type} block size {blk}")
        offset = p.u64()
        if offset % alignment:
            raise p.fail(f"tensor {tname} data offset {offset} is not aligned to {alignment}")
        nbytes = ggml_types.tensor_bytes(tname_type, ne)
        tensors.append(TensorInfo(tname, tname_type, ne, nbytes, offset, part))

    header_bytes = -(-p.pos // alignment) * alignment
    if src.size is not None and tensors:
        end = max(t.offset + t.n_bytes for t in tensors)
        if header_bytes + end > src.size:
            raise p.fail(f"tensor data ends at byte {header_bytes + end}, past the end of the file ({src.size} bytes)")
    return GgufHeader(name, version, alignment, metadata, tensors, header_bytes, src.bytes_fetched,
                      src.size, value_types=vtypes)


def _read_one(path_or_url: str | os.PathLike | ByteSource, part: int = 1,
              budget: ReadBudget | None = None) -> GgufHeader:
    src = open_source(path_or_url, budget)
    try:
        return _parse(src, src.name, part)
    except (struct.error, UnicodeDecodeError, OverflowError, MemoryError, ValueError) as e:
        if isinstance(e, VttError):
            raise
        raise GgufError(f"gguf: malformed header ({e.__class__.__name__}) in {src.name}") from None
    finally:
        src.close()


def read_gguf_header(path_or_url: str | os.PathLike | ByteSource) -> GgufHeader:
    """The metadata and tensor table of a GGUF file or URL, reading only the header bytes.

    For a split model (`...-00001-of-00003.gguf`), every part's header is read (same folder or
    URL pattern) and the tensor tables are joined; `parts` and `notes` say so.
    """
    budget = ReadBudget()  # one deadline and one byte cap for every part
    head = _read_one(path_or_url, budget=budget)
    if isinstance(path_or_url, ByteSource):
        return head
    split = split_parts(path_or_url)
    count = head.metadata.get("split.count")
    if split is None and not (isinstance(count, int) and count > 1):
        return head
    if split is None:
        raise GgufError(f"gguf: {head.name} is part of a {count}-part split but its name lacks -00001-of-{count:05d}")
    no, n = split
    if n > MAX_PARTS or n < 1:
        raise GgufError(f"gguf: split count {n} out of range in {head.name}")
    if no != 1:
        raise GgufError(f"gguf: {head.name} is part {no} of {n}; pass part 1 (-00001-of-{n:05d}.gguf)")
    size = head.file_size
    for k in range(2, n + 1):
        other = _read_one(part_name(path_or_url, k, n), part=k, budget=budget)
        head.tensors.extend(other.tensors)
        head.bytes_read += other.bytes_read
        size = None if size is None or other.file_size is None else size + other.file_size
    head.file_size = size
    head.parts = n
    names = [t.name for t in head.tensors]
    if len(set(names)) != len(names):
        raise GgufError(f"gguf: the {n} parts of {head.name} repeat tensor names")
    want = head.metadata.get("split.tensors.count")
    if isinstance(want, int) and want != len(head.tensors):
        raise GgufError(f"gguf: split.tensors.count says {want} tensors, the {n} parts hold {len(head.tensors)} in {head.name}")
    head.notes.append(f"split model: summed the tensor tables of {n} parts")
    return head


if __name__ == "__main__":  # pragma: no cover - debugging aid
    h = read_gguf_header(sys.argv[1])
    print(h.arch, h.version, len(h.tensors), h.tensor_bytes, h.header_bytes, h.bytes_read)
