"""Files from Debian packages, without installing them, and R data read from them without R.

Debian ships many data sets as R packages (``r-cran-*``). :func:`fetch_packages` downloads the
``.deb`` files with ``apt-get download`` and unpacks them with ``dpkg-deb -x`` into a folder of ours:
nothing is installed system-wide and no root rights are needed (``apt-get install r-cran-*`` would pull
in R itself). :func:`read_r_lazyload` then reads one object from an R package's lazy-load database,
the ``data/Rdata.rdx`` index and ``data/Rdata.rdb`` blob R writes when it builds a package.
"""

from __future__ import annotations

import bz2
import lzma
import shutil
import struct
import subprocess
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zero2hero.errors import AssetMissingError, InputError, UnknownNameError

_NO_APT_HINT = "use a Debian or Ubuntu machine (or container), where apt-get and dpkg-deb come with the system"
# R compresses each object of a lazy-load database with the filter settings below (src/main/serialize.c).
_R_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


@dataclass(frozen=True)
class DebianFetch:
    """What :func:`fetch_packages` unpacked: the files under ``root`` (``root/usr/...``) and each package's version."""

    root: Path
    versions: dict[str, str]  # package name -> Debian version, e.g. {"r-cran-modeldata": "1.1.0-1"}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def fetch_packages(names: list[str] | tuple[str, ...], folder: Path, without_apt_hint: str = _NO_APT_HINT
                   ) -> DebianFetch:
    """Download the Debian packages ``names`` into ``folder`` and unpack each into ``folder / "root"``.

    When the first ``apt-get download`` fails (a fresh machine may have no package lists yet),
    ``apt-get update -qq`` runs once and the download is tried again. Raises :class:`AssetMissingError`
    when apt-get or dpkg-deb is missing (with ``without_apt_hint`` as the hint: how to get the data
    elsewhere), or when the download or an unpacking fails.
    """
    folder = Path(folder)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AssetMissingError(f"this machine has no apt-get/dpkg-deb to fetch the Debian packages {', '.join(names)}",
                                without_apt_hint)
    result = _run(["apt-get", "download", *names], folder)
    if result.returncode != 0:
        _run(["apt-get", "update", "-qq"], folder)
        result = _run(["apt-get", "download", *names], folder)
    if result.returncode != 0:
        raise AssetMissingError(f"apt-get download {' '.join(names)} failed: {result.stderr.strip()[-300:]}",
                                "check that the Debian package index is reachable, then run it again")
    root = folder / "root"
    versions = {}
    for deb in sorted(folder.glob("*.deb")):
        unpacked = _run(["dpkg-deb", "-x", str(deb), str(root)], folder)
        fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], folder)
        if unpacked.returncode != 0 or fields.returncode != 0:
            problem = (unpacked.stderr + fields.stderr).strip()
            raise AssetMissingError(f"dpkg-deb could not unpack {deb.name}: {problem}",
                                    "the download may be damaged: run the command again")
        package, version = (line.split(":", 1)[1].strip() for line in fields.stdout.splitlines())
        versions[package] = version
    return DebianFetch(root=root, versions=versions)


def read_r_lazyload(data_folder: Path, name: str) -> Any:
    """One object of the R lazy-load database in ``data_folder`` (``Rdata.rdx`` + ``Rdata.rdb``), as Python.

    A data frame becomes a ``pandas.DataFrame``, a character vector a NumPy array, a named list a dict
    (the conversions of the ``rdata`` package). ``data_folder`` is a package's ``data`` folder, e.g.
    ``root/usr/lib/R/site-library/modeldata/data``. Raises :class:`AssetMissingError` when the files are
    missing, :class:`UnknownNameError` (listing the names it holds) for an object it lacks, and
    :class:`InputError` for a damaged database.
    """
    import rdata

    index_path, blob_path = Path(data_folder) / "Rdata.rdx", Path(data_folder) / "Rdata.rdb"
    if not index_path.is_file() or not blob_path.is_file():
        raise AssetMissingError(f"{data_folder} holds no R lazy-load database (Rdata.rdx and Rdata.rdb)",
                                "pass the data folder of an unpacked R package, e.g. .../site-library/modeldata/data")
    index = rdata.read_rds(index_path)
    variables = {str(key): value for key, value in index["variables"].items()}
    if name not in variables:
        raise UnknownNameError(f"{name!r} is not in {index_path}", f"it holds: {', '.join(sorted(variables))}")
    offset, length = (int(v) for v in variables[name])
    with open(blob_path, "rb") as blob:
        blob.seek(offset)
        record = blob.read(length)
    serialized = decompress_record(record, int(index["compressed"][0]), source=f"{name!r} in {blob_path}")
    with warnings.catch_warnings():  # rdata warns that a bare serialisation has no file header
        warnings.simplefilter("ignore")
        return rdata.conversion.convert(rdata.parser.parse_data(serialized))


def decompress_record(record: bytes, compressed: int, source: str = "record") -> bytes:
    """R's serialisation of one object, from its record in an ``.rdb`` file.

    ``compressed`` is the index's setting: 0 = stored as is; 1 = a 4-byte big-endian length (of the
    serialisation) then a zlib stream; 2 or 3 = the length, a type byte (``Z`` LZMA2, ``2`` bzip2,
    ``1`` zlib, ``0`` stored) then the data. A record whose data does not decode to that length raises
    :class:`InputError`.
    """
    if compressed == 0:
        return record
    if len(record) < 5:
        raise _damaged(source, f"its record is {len(record)} bytes long, too short for a header")
    (expected,) = struct.unpack(">I", record[:4])
    kind, payload = (b"1", record[4:]) if compressed == 1 else (record[4:5], record[5:])
    decoders = {
        b"Z": lambda data: lzma.decompress(data, format=lzma.FORMAT_RAW, filters=_R_LZMA_FILTERS),
        b"2": bz2.decompress,
        b"1": zlib.decompress,
        b"0": bytes,
    }
    if kind not in decoders:
        raise _damaged(source, f"its compression type {kind!r} is none of Z, 2, 1, 0")
    try:
        serialized = decoders[kind](payload)
    except (lzma.LZMAError, OSError, zlib.error, ValueError) as err:
        raise _damaged(source, f"its data does not decompress ({err})") from None
    if len(serialized) != expected:
        raise _damaged(source, f"it decompresses to {len(serialized):,} bytes, "
                               f"not the {expected:,} bytes its header says")
    return serialized


def _damaged(source: str, problem: str) -> InputError:
    return InputError(f"{source} is damaged: {problem}",
                      "unpack the Debian package again (the download may have been cut short)")
