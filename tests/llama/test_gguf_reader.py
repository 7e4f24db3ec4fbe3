"""Our GGUF reader equals the reference reader (``gguf.GGUFReader``), and refuses every kind of bad file clearly."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from tests.llama.conftest import tiny_llama, write_llama_gguf
from zero2hero.errors import InputError
from zero2hero.llama import gguf_reader
from zero2hero.llama.ggml_types import TYPE_NAMES
from zero2hero.llama.gguf_model import llama_from_gguf
from zero2hero.llama.gguf_reader import read_gguf

Q = gguf.GGMLQuantizationType
UNICODE = "naïve café — 日本語 🦙"
# key -> (value, the writer's method): every value type of the format.
SCALARS = {
    "odd.u8": (255, "add_uint8"), "odd.i8": (-128, "add_int8"), "odd.u16": (65535, "add_uint16"),
    "odd.i16": (-32768, "add_int16"), "odd.u32": (4294967295, "add_uint32"), "odd.i32": (-2147483648, "add_int32"),
    "odd.f32": (0.1, "add_float32"), "odd.bool": (True, "add_bool"), "odd.string": (UNICODE, "add_string"),
    "odd.u64": (2**64 - 1, "add_uint64"), "odd.i64": (-(2**63), "add_int64"), "odd.f64": (1e-300, "add_float64"),
    "odd.key ünïcode 🔑": (7, "add_uint32"),
}
ARRAYS = {
    "odd.ints": [1, -2, 3], "odd.floats": [0.5, -1.25], "odd.bools": [True, False, True],
    "odd.strings": ["a", UNICODE, ""], "odd.nested_ints": [[1, 2], [3], [4, 5, 6]],
    "odd.nested_strings": [["x", UNICODE], ["y"]],
}


def _rows(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# name -> (values, stored type): every type the reader dequantises, in 1, 2 and 3 dimensions.
TENSORS = {
    "plain.f32": (_rows((7,), 0), Q.F32), "plain.f16": (_rows((3, 5), 1), Q.F16),
    "block.q8_0": (_rows((4, 64), 2), Q.Q8_0), "block.q4_0": (_rows((2, 3, 32), 3), Q.Q4_0),
    "block.q4_1": (_rows((5, 96), 4), Q.Q4_1),
}


def _write(path: Path, arch: str = "llama", alignment: int | None = None,
           tensors: dict[str, tuple[np.ndarray, Q]] = TENSORS) -> Path:
    writer = gguf.GGUFWriter(path, arch)
    if alignment:
        writer.add_custom_alignment(alignment)
    for key, (value, method) in SCALARS.items():
        getattr(writer, method)(key, value)
    for key, value in ARRAYS.items():
        writer.add_array(key, value)
    for name, (values, qtype) in tensors.items():
        if qtype == Q.F16:
            writer.add_tensor(name, values.astype(np.float16))
        elif qtype == Q.F32:
            writer.add_tensor(name, values)
        else:
            writer.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def odd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("gguf") / "odd.gguf", alignment=64)


def _reference_metadata(reader: gguf.GGUFReader) -> dict:
    """The reference reader's metadata, for the fields its ``contents()`` decodes (it flattens nested arrays)."""
    return {key: field.contents() for key, field in reader.fields.items()
            if not key.startswith("GGUF.") and field.types[:2] != [gguf.GGUFValueType.ARRAY] * 2}


def _assert_same_as_reference(path: Path, names: list[str]) -> None:
    ours, reader = read_gguf(path), gguf.GGUFReader(path)
    assert ours.version == reader.fields["GGUF.version"].contents()
    reference = _reference_metadata(reader)
    assert {k: v for k, v in ours.metadata.items() if k in reference} == reference
    assert ours.data_offset == reader.data_offset and ours.alignment == reader.alignment
    assert list(ours.tensors) == [t.name for t in reader.tensors]
    for t in reader.tensors:
        info = ours.tensors[t.name]
        assert info.shape == tuple(int(n) for n in reversed(t.shape)) and info.type_id == t.tensor_type
        assert ours.data_offset + info.offset == t.data_offset
    for name in names:
        t = next(t for t in reader.tensors if t.name == name)
        assert torch.equal(ours.read_raw(name), torch.from_numpy(t.data.copy().view(np.uint8).reshape(-1)))
        expected = torch.from_numpy(gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32))
        assert torch.equal(ours.read_tensor(name), expected.reshape(ours.tensors[name].shape))


def test_odd_metadata_equals_what_was_written_and_the_reference_reader(odd_file: Path) -> None:
    ours = read_gguf(odd_file)
    assert ours.version == 3 and ours.alignment == 64 and ours.data_offset % 64 == 0
    for key, (value, method) in SCALARS.items():
        expected = float(np.float32(value)) if method == "add_float32" else value
        assert ours.metadata[key] == expected and type(ours.metadata[key]) is type(expected), key
    for key, value in ARRAYS.items():
        assert ours.metadata[key] == value, key
    assert ours.metadata["odd.floats"] == [0.5, -1.25] and ours.metadata["general.architecture"] == "llama"
    _assert_same_as_reference(odd_file, list(TENSORS))


def test_tensors_equal_what_was_written(odd_file: Path) -> None:
    ours = read_gguf(odd_file)
    for name, (values, qtype) in TENSORS.items():
        assert ours.tensors[name].shape == values.shape and ours.tensors[name].type_name == qtype.name
        got = ours.read_tensor(name)
        assert got.dtype == torch.float32 and got.shape == values.shape
        if qtype == Q.F32:
            assert torch.equal(got, torch.from_numpy(values))
        else:  # lossy formats: close to the original, within each format's error
            assert (got - torch.from_numpy(values)).abs().max() < 0.5


def test_type_names_are_ggml_s() -> None:
    for number, name in TYPE_NAMES.items():
        assert Q(number).name == name


def test_smollm2_header_and_some_tensors_equal_the_reference_reader(smollm2_path: Path) -> None:
    ours = read_gguf(smollm2_path)
    assert ours.metadata["general.architecture"] == "llama" and len(ours.metadata["tokenizer.ggml.tokens"]) == 49152
    assert {t.type_name for t in ours.tensors.values()} == {"F32", "Q4_1", "Q8_0"}
    _assert_same_as_reference(smollm2_path, ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_norm.weight"])


@pytest.mark.heavy
def test_every_smollm2_tensor_equals_the_reference_dequantisation(smollm2_path: Path) -> None:
    reader = gguf.GGUFReader(smollm2_path)
    _assert_same_as_reference(smollm2_path, [t.name for t in reader.tensors])


# ---- bad files: each gives one InputError that says what is wrong ----

def _header(version: int = 3, n_tensors: int = 0, n_metadata: int = 0, magic: bytes = b"GGUF") -> bytes:
    return struct.pack("<4sIQQ", magic, version, n_tensors, n_metadata)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def _refused(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(InputError, match=match):
        read_gguf(path)


def test_truncated_files_are_refused(tmp_path: Path, odd_file: Path) -> None:
    data = odd_file.read_bytes()
    last_name = data.rindex(b"block.q4_1")
    _refused(tmp_path, b"", "truncated")
    _refused(tmp_path, data[:100], "truncated")  # inside the metadata
    _refused(tmp_path, data[:last_name + 3], "truncated")  # inside the tensor infos
    parsed = read_gguf(odd_file)
    last_end = parsed.data_offset + parsed.tensors["block.q4_1"].offset + 5 * 96 // 32 * 20
    assert len(data) >= last_end  # the writer may pad the end
    _refused(tmp_path, data[:last_end - 10], "truncated.*block.q4_1")  # inside the last tensor's data


def test_wrong_magic_is_refused(tmp_path: Path, odd_file: Path) -> None:
    _refused(tmp_path, b"GGML" + odd_file.read_bytes()[4:], "not a GGUF file")
    _refused(tmp_path, b"PK\x03\x04" + bytes(40), "not a GGUF file")


@pytest.mark.parametrize("version", [1, 4, 2**24])
def test_unsupported_versions_are_refused(tmp_path: Path, version: int) -> None:
    _refused(tmp_path, _header(version), f"version {version}")


@pytest.mark.parametrize(("data", "match"), [
    (_header(n_tensors=2**40), "tensors, more than the limit"),
    (_header(n_metadata=2**40), "metadata entries, more than the limit"),
    (_header(n_metadata=1) + struct.pack("<Q", 2**60), "bytes in metadata key 0, more than the limit"),
    (_header(n_metadata=1) + _string("k") + struct.pack("<IIQ", 9, 4, 2**50), "elements in metadata 'k', more"),
    (_header(n_metadata=1) + _string("k") + struct.pack("<IIQ", 9, 4, 1000) + bytes(40), "truncated"),
    (_header(n_metadata=1) + _string("k") + struct.pack("<I", 13) + bytes(8), "unknown value type 13"),
    (_header(n_metadata=1) + _string("k") + struct.pack("<I", 8) + _string(b"\xff\xfe"), "not valid UTF-8"),
    (_header(n_metadata=1) + _string("k") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 20, "nests arrays"),
    (_header(n_metadata=2) + (_string("k") + struct.pack("<IB", 0, 1)) * 2, "the metadata key 'k' twice"),
    (_header(n_tensors=1) + _string("t") + struct.pack("<I", 5) + bytes(60), "5 dimensions"),
    (_header(n_tensors=1) + _string("t") + struct.pack("<IQQIQ", 2, 2**30, 2**30, 0, 0), "each must be at least 1"),
    (_header(n_tensors=1) + _string("t") + struct.pack("<IQIQ", 1, 0, 0, 0), "each must be at least 1"),
    (_header(n_tensors=1) + _string("t") + struct.pack("<IQIQ", 1, 8, 0, 4) + bytes(64), "not a multiple"),
    (_header(n_tensors=1) + _string("t") + struct.pack("<IQIQ", 1, 20, 8, 0) + bytes(64), "not a whole number"),
    (_header(n_metadata=1) + _string("general.alignment") + struct.pack("<II", 4, 48), "not a power of two"),
])
def test_corrupt_headers_are_refused(tmp_path: Path, data: bytes, match: str) -> None:
    _refused(tmp_path, data, match)


def test_limits_are_checked_before_anything_is_allocated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf_reader, "MAX_ARRAY_LENGTH", 4)
    _refused(tmp_path, _header(n_metadata=1) + _string("k") + struct.pack("<IIQ", 9, 0, 5) + bytes(5),
             "5 elements in metadata 'k', more than the limit of 4")


def test_an_unsupported_quantisation_type_is_named(tmp_path: Path) -> None:
    values = _rows((2, 64), 5)
    path = _write(tmp_path / "q5_1.gguf", tensors={"w": (values, Q.Q5_1), "ok": (values, Q.Q8_0)})
    parsed = read_gguf(path)  # the header is readable: the tensor is listed with its type
    assert parsed.tensors["w"].type_name == "Q5_1" and parsed.read_tensor("ok").shape == (2, 64)
    with pytest.raises(InputError, match="'w' is stored as Q5_1, which this reader does not dequantise"):
        parsed.read_tensor("w")


def test_an_unknown_tensor_name_is_refused(odd_file: Path) -> None:
    with pytest.raises(InputError, match="no tensor 'nope'"):
        read_gguf(odd_file).read_tensor("nope")


def test_a_model_that_is_not_llama_like_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds a 'gpt2' model, not a LLaMA-like one"):
        llama_from_gguf(_write(tmp_path / "gpt2.gguf", arch="gpt2"))


def test_a_llama_file_missing_a_tensor_is_refused(tmp_path: Path) -> None:
    path = write_llama_gguf(tmp_path / "tiny.gguf", tiny_llama(), Q.F32)
    data = bytearray(path.read_bytes())
    name_at = data.index(b"blk.1.ffn_down.weight")
    data[name_at:name_at + 4] = b"BLK."  # renamed: the model misses it and holds an unexpected one
    (tmp_path / "renamed.gguf").write_bytes(bytes(data))
    with pytest.raises(InputError, match="unexpected: \\['BLK.1.ffn_down.weight'\\], missing: \\['blk.1.ffn_down"):
        llama_from_gguf(tmp_path / "renamed.gguf")
