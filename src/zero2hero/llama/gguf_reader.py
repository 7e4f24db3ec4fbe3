"""A GGUF file reader written from scratch, at the level of its bytes.

A GGUF file (llama.cpp's model format) is, in order, all little-endian:

1. the magic ``b"GGUF"``, a uint32 version (2 or 3), a uint64 tensor count, a uint64 metadata count;
2. the metadata: per entry a string key, a uint32 value type, the value. A string is a uint64 byte length and
   UTF-8 bytes; an array is a uint32 element type, a uint64 length and the elements (arrays may nest);
3. the tensor infos: per tensor a string name, a uint32 number of dimensions, that many uint64 sizes (innermost
   first: ``[columns, rows]`` for a matrix), a uint32 ggml type and a uint64 offset into the data section;
4. padding up to a multiple of the alignment (``general.alignment``, default 32), then the data section.

Every count and length in the header is checked against a hard limit and against the bytes left in the file
before anything is allocated, so a corrupt or hostile header is refused with an :class:`InputError`.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import torch

from zero2hero.errors import InputError
from zero2hero.llama.ggml_types import READABLE, tensor_nbytes, to_float32, type_name

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # version 1 used 32-bit counts and lengths; 3 added big-endian files (refused by the magic check)
DEFAULT_ALIGNMENT = 32
MAX_TENSORS = 1 << 16
MAX_METADATA = 1 << 16
MAX_STRING_BYTES = 1 << 24
MAX_ARRAY_LENGTH = 1 << 24
MAX_ARRAY_DEPTH = 8
MAX_DIMS = 4  # ggml's GGML_MAX_DIMS
MAX_ELEMENTS = 1 << 40
_CORRUPT = "the file is corrupt: download, copy or convert it again"


class ValueType(IntEnum):
    """The metadata value types of the GGUF format."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_SCALAR_FORMATS = {ValueType.UINT8: "B", ValueType.INT8: "b", ValueType.UINT16: "H", ValueType.INT16: "h",
                   ValueType.UINT32: "I", ValueType.INT32: "i", ValueType.FLOAT32: "f", ValueType.BOOL: "?",
                   ValueType.UINT64: "Q", ValueType.INT64: "q", ValueType.FLOAT64: "d"}
_MIN_BYTES = {**{t: struct.calcsize("<" + f) for t, f in _SCALAR_FORMATS.items()},
              ValueType.STRING: 8, ValueType.ARRAY: 12}  # the smallest encoding of one value of each type


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in the header. ``shape`` is in torch order (rows first), the reverse of GGUF's."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # bytes from the start of the data section

    @property
    def type_name(self) -> str:
        return type_name(self.type_id)


@dataclass(frozen=True)
class GGUFFile:
    """A parsed GGUF header; :meth:`read_tensor` reads one tensor's values from the file on demand."""

    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, TensorInfo]
    alignment: int
    data_offset: int  # where the data section starts, from the start of the file

    def read_raw(self, name: str) -> torch.Tensor:
        """The bytes of tensor ``name`` as stored, (n_bytes,) uint8."""
        info = self.tensors[name]
        nbytes = tensor_nbytes(info.type_id, info.shape, name)
        raw = bytearray(nbytes)
        with open(self.path, "rb") as f:
            f.seek(self.data_offset + info.offset)
            if f.readinto(raw) != nbytes:
                raise _truncated(self.path, f"the data of tensor {name!r}")
        return torch.frombuffer(raw, dtype=torch.uint8)

    def read_tensor(self, name: str) -> torch.Tensor:
        """Tensor ``name`` dequantised to float32, in its torch shape; an unknown name raises :class:`InputError`."""
        if name not in self.tensors:
            raise InputError(f"{self.path.name} has no tensor {name!r}", "list the names in GGUFFile.tensors")
        info = self.tensors[name]
        return to_float32(self.read_raw(name), info.type_id, info.shape, name)


def _truncated(path: Path, what: str) -> InputError:
    return InputError(f"{path} ends in the middle of {what}: it is truncated", _CORRUPT)


def _check_count(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise InputError(f"the GGUF header claims {count:,} {what}, more than the limit of {limit:,}", _CORRUPT)


class _Cursor:
    """Reads little-endian values one after another from the header's bytes; never past their end."""

    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        self.buf, self.path, self.pos = buf, path, 0

    def take(self, n: int, what: str) -> int:
        """Skip ``n`` bytes; return where they start."""
        if n > len(self.buf) - self.pos:
            raise _truncated(self.path, what)
        start, self.pos = self.pos, self.pos + n
        return start

    def scalar(self, fmt: str, what: str) -> Any:
        return struct.unpack_from("<" + fmt, self.buf, self.take(struct.calcsize("<" + fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("Q", what)
        _check_count(n, MAX_STRING_BYTES, f"bytes in {what}")
        start = self.take(n, what)
        try:
            return self.buf[start:start + n].decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{what} in {self.path} is not valid UTF-8", _CORRUPT) from None

    def value_type(self, what: str) -> ValueType:
        code = self.scalar("I", what)
        if code not in ValueType._value2member_map_:
            raise InputError(f"{what} in {self.path} has the unknown value type {code}", _CORRUPT)
        return ValueType(code)

    def value(self, kind: ValueType, what: str, depth: int = 0) -> Any:
        if kind == ValueType.STRING:
            return self.string(what)
        if kind != ValueType.ARRAY:
            return self.scalar(_SCALAR_FORMATS[kind], what)
        if depth >= MAX_ARRAY_DEPTH:
            raise InputError(f"{what} nests arrays more than {MAX_ARRAY_DEPTH} deep", _CORRUPT)
        item = self.value_type(what)
        n = self.scalar("Q", what)
        _check_count(n, MAX_ARRAY_LENGTH, f"elements in {what}")
        if n * _MIN_BYTES[item] > len(self.buf) - self.pos:  # cannot fit: refuse before building a list
            raise _truncated(self.path, what)
        if item in _SCALAR_FORMATS:  # numbers: one unpack for the whole array
            fmt = f"<{n}{_SCALAR_FORMATS[item]}"
            return list(struct.unpack_from(fmt, self.buf, self.take(struct.calcsize(fmt), what)))
        return [self.value(item, what, depth + 1) for _ in range(n)]


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse the header of the GGUF file at ``path``: metadata and tensor infos (tensor data is read later)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a file", "pass the path of a .gguf model file")
    if path.stat().st_size < 4 + 4 + 8 + 8:
        raise _truncated(path, "the GGUF header")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _parse(_Cursor(buf, path), len(buf))


def _parse(cur: _Cursor, file_size: int) -> GGUFFile:
    path = cur.path
    magic = bytes(cur.buf[:4])
    cur.take(4, "the magic")
    if magic != MAGIC:
        raise InputError(f"{path} is not a GGUF file: it starts with {magic!r}, not {MAGIC!r}",
                         "pass a .gguf model file (e.g. SmolLM2-135M-Instruct.Q4_1.gguf)")
    version = cur.scalar("I", "the version")
    if version not in VERSIONS:
        raise InputError(f"{path} is GGUF version {version}; this reader reads versions "
                         f"{', '.join(map(str, VERSIONS))}", "convert the model again with a recent llama.cpp")
    n_tensors, n_metadata = cur.scalar("Q", "the tensor count"), cur.scalar("Q", "the metadata count")
    _check_count(n_tensors, MAX_TENSORS, "tensors")
    _check_count(n_metadata, MAX_METADATA, "metadata entries")
    metadata: dict[str, Any] = {}
    for i in range(n_metadata):
        key = cur.string(f"metadata key {i}")
        if key in metadata:
            raise InputError(f"{path} holds the metadata key {key!r} twice", _CORRUPT)
        metadata[key] = cur.value(cur.value_type(f"metadata {key!r}"), f"metadata {key!r}")
    tensors: dict[str, TensorInfo] = {}
    for i in range(n_tensors):
        info = _tensor_info(cur, i)
        if info.name in tensors:
            raise InputError(f"{path} holds the tensor {info.name!r} twice", _CORRUPT)
        tensors[info.name] = info
    alignment = _alignment(metadata, path)
    data_offset = -(-cur.pos // alignment) * alignment  # the header, padded up to a multiple of the alignment
    for info in tensors.values():
        _check_placement(info, alignment, file_size - data_offset, path)
    return GGUFFile(path, version, metadata, tensors, alignment, data_offset)


def _tensor_info(cur: _Cursor, i: int) -> TensorInfo:
    name = cur.string(f"the name of tensor {i}")
    n_dims = cur.scalar("I", f"tensor {name!r}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise InputError(f"tensor {name!r} has {n_dims} dimensions; GGUF allows 1 to {MAX_DIMS}", _CORRUPT)
    dims = [cur.scalar("Q", f"tensor {name!r}") for _ in range(n_dims)]
    n_elements = 1
    for size in dims:
        n_elements *= size
    if not all(dims) or n_elements > MAX_ELEMENTS:
        raise InputError(f"tensor {name!r} has the dimensions {dims} ({n_elements:,} values); each must be at least "
                         f"1 and the total at most {MAX_ELEMENTS:,}", _CORRUPT)
    type_id, offset = cur.scalar("I", f"tensor {name!r}"), cur.scalar("Q", f"tensor {name!r}")
    return TensorInfo(name, tuple(reversed(dims)), type_id, offset)


def _alignment(metadata: dict[str, Any], path: Path) -> int:
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment < 1 or alignment & (alignment - 1):
        raise InputError(f"{path} sets general.alignment to {alignment!r}, not a power of two", _CORRUPT)
    return alignment


def _check_placement(info: TensorInfo, alignment: int, data_size: int, path: Path) -> None:
    """The tensor starts on an aligned offset inside the data section and, when its size is known, ends inside it."""
    if info.offset % alignment:
        raise InputError(f"tensor {info.name!r} starts at offset {info.offset}, not a multiple of the alignment "
                         f"{alignment}", _CORRUPT)
    end = info.offset + (tensor_nbytes(info.type_id, info.shape, info.name) if info.type_id in READABLE else 0)
    if end > data_size:
        raise _truncated(path, f"the data of tensor {info.name!r}")
