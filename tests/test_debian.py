from __future__ import annotations

import bz2
import lzma
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import rdata

from zero2hero import debian
from zero2hero.errors import AssetMissingError, InputError, UnknownNameError

OBJECTS = {
    "reviews": {"review": np.array(["tasty and fresh", "stale, never again"]),
                "stars": np.array([5, 1], dtype=np.int32)},
    "words": np.array(["great", "other", "great"]),
}
LZMA_R = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def _serialise(value: object) -> bytes:
    return rdata.unparser.unparse_data(rdata.conversion.convert_python_to_r_data(value), file_format="xdr")


def _record(serialised: bytes, compressed: int, kind: bytes) -> bytes:
    """One .rdb record the way R writes it (src/main/serialize.c, R_compress1/2/3)."""
    if compressed == 0:
        return serialised
    header = struct.pack(">I", len(serialised))
    if compressed == 1:
        return header + zlib.compress(serialised)
    payload = {b"Z": lambda d: lzma.compress(d, format=lzma.FORMAT_RAW, filters=LZMA_R), b"2": bz2.compress,
               b"1": zlib.compress, b"0": bytes}[kind](serialised)
    return header + kind + payload


def _write_database(folder: Path, compressed: int, kind: bytes = b"Z") -> Path:
    blob, variables = b"", {}
    for name, value in OBJECTS.items():
        record = _record(_serialise(value), compressed, kind)
        variables[name] = np.array([len(blob), len(record)], dtype=np.int32)
        blob += record
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Rdata.rdb").write_bytes(blob)
    flag = np.array([True]) if compressed == 1 else np.array([compressed], dtype=np.int32)
    rdata.write_rds(folder / "Rdata.rdx", {"variables": variables, "references": {}, "compressed": flag})
    return folder


@pytest.mark.parametrize(("compressed", "kind"), [(3, b"Z"), (2, b"2"), (3, b"1"), (3, b"0"), (1, b""), (0, b"")])
def test_reads_each_compression_of_a_synthetic_database(tmp_path: Path, compressed: int, kind: bytes) -> None:
    folder = _write_database(tmp_path / "data", compressed, kind)
    reviews = debian.read_r_lazyload(folder, "reviews")
    assert list(reviews["review"]) == ["tasty and fresh", "stale, never again"]
    assert list(reviews["stars"]) == [5, 1]
    assert list(debian.read_r_lazyload(folder, "words")) == ["great", "other", "great"]


def test_unknown_object_lists_what_the_database_holds(tmp_path: Path) -> None:
    folder = _write_database(tmp_path / "data", 3)
    with pytest.raises(UnknownNameError, match="'ratings' is not in") as info:
        debian.read_r_lazyload(folder, "ratings")
    assert "reviews, words" in info.value.hint


def test_missing_database_is_an_asset_error(tmp_path: Path) -> None:
    with pytest.raises(AssetMissingError, match="no R lazy-load database"):
        debian.read_r_lazyload(tmp_path, "reviews")


def test_damaged_records_are_refused(tmp_path: Path) -> None:
    serialised = _serialise(OBJECTS["words"])
    record = _record(serialised, 3, b"Z")
    with pytest.raises(InputError, match="does not decompress"):
        debian.decompress_record(record[:-10], 3)
    with pytest.raises(InputError, match="compression type b'Q'"):
        debian.decompress_record(record[:4] + b"Q" + record[5:], 3)
    with pytest.raises(InputError, match="not the 1 bytes its header says"):
        debian.decompress_record(struct.pack(">I", 1) + record[4:], 3)
    with pytest.raises(InputError, match="too short"):
        debian.decompress_record(b"\x00\x00", 2)
    assert debian.decompress_record(record, 3) == serialised


def test_fetch_without_apt_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    with pytest.raises(AssetMissingError, match="no apt-get/dpkg-deb .* r-cran-modeldata") as info:
        debian.fetch_packages(["r-cran-modeldata"], tmp_path, without_apt_hint="use your own CSV")
    assert info.value.hint == "use your own CSV"


def test_failed_download_updates_the_package_lists_once_then_fails(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    calls = []

    def failing_run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
        calls.append(args[:2])
        return subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package r-cran-nothing")

    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(debian, "_run", failing_run)
    with pytest.raises(AssetMissingError, match="Unable to locate package r-cran-nothing"):
        debian.fetch_packages(["r-cran-nothing"], tmp_path)
    assert calls == [["apt-get", "download"], ["apt-get", "update"], ["apt-get", "download"]]


def test_fetches_and_reads_the_real_debian_packages(tmp_path: Path) -> None:
    fetched = debian.fetch_packages(["r-cran-modeldata", "r-cran-janeaustenr"], tmp_path)
    assert fetched.root == tmp_path / "root"
    assert set(fetched.versions) == {"r-cran-modeldata", "r-cran-janeaustenr"}
    assert fetched.versions["r-cran-modeldata"].startswith("1.1.0")
    library = fetched.root / "usr/lib/R/site-library"
    training = debian.read_r_lazyload(library / "modeldata/data", "training_data")  # LZMA2 records
    assert training.shape == (4000, 3) and list(training.columns) == ["product", "review", "score"]
    assert training["score"].value_counts().to_dict() == {"great": 2600, "other": 1400}
    emma = debian.read_r_lazyload(library / "janeaustenr/data", "emma")  # zlib records
    assert list(emma[:3]) == ["EMMA", "", "By Jane Austen"]
