"""The course corpus: about 10 MB of public-domain English prose, available offline after set-up.

It joins three texts that Debian ships as packages (fetched with ``apt-get download`` and unpacked
with ``dpkg-deb -x`` into the cache, never installed system-wide):

* Jane Austen's six novels (package ``r-cran-janeaustenr``, R data read with the ``rdata`` package);
* the King James Bible (``bible-kjv`` prints the text stored in ``bible-kjv-text``);
* the Jargon File 4.4.7 (``jargon-text``), a lexicon of hacker slang — modern, technical English.

All three texts are in the public domain. ``make setup`` runs ``python -m zero2hero.corpus install``
once; afterwards :func:`load_corpus` reads one UTF-8 file. Each document's last 5 % is held out:
:func:`training_text` never contains it, :func:`heldout_text` is made of it.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from zero2hero.assets import cache_dir
from zero2hero.errors import AssetMissingError, InputError, Zero2HeroError

CORPUS_VERSION = "v2"
DEBIAN_PACKAGES = ("r-cran-janeaustenr", "bible-kjv", "bible-kjv-text", "jargon-text")
DOCUMENT_SEPARATOR = "\n\f\n"  # a form feed between documents; none occurs inside them
HELDOUT_SHARE = 0.05
_AUSTEN_NOVELS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion")


def corpus_path() -> Path:
    return cache_dir() / f"course-corpus-{CORPUS_VERSION}.txt"


def _manual_hint() -> str:
    return (f"put any ~10 MB UTF-8 prose file at {corpus_path()} (e.g. the Project Gutenberg editions of "
            "Jane Austen's novels and the King James Bible, joined)")


def _missing() -> AssetMissingError:
    return AssetMissingError(
        "the course corpus is not installed",
        "run `make setup` (or `python -m zero2hero.corpus install`; it needs Debian/Ubuntu's apt-get). "
        "Elsewhere, " + _manual_hint(),
    )


def load_corpus() -> str:
    """The whole corpus as one string (about 10 million characters)."""
    path = corpus_path()
    if not path.exists():
        raise _missing()
    return path.read_text(encoding="utf-8")


def documents() -> list[str]:
    return load_corpus().split(DOCUMENT_SEPARATOR)


def _split(document: str) -> tuple[str, str]:
    cut = int(len(document) * (1 - HELDOUT_SHARE))
    cut = document.rfind("\n", 0, cut) + 1 or cut  # cut at a line start
    return document[:cut], document[cut:]


def training_text() -> str:
    """The corpus without its held-out part (the first 95 % of each document)."""
    return DOCUMENT_SEPARATOR.join(_split(doc)[0] for doc in documents())


def heldout_text(n_chars: int | None = None) -> str:
    """Text never used for training: the last 5 % of each document, joined (deterministic).

    With ``n_chars``, the first ``n_chars`` characters of it (cut at a line end).
    """
    text = DOCUMENT_SEPARATOR.join(_split(doc)[1] for doc in documents())
    if n_chars is None or n_chars >= len(text):
        return text
    if n_chars <= 0:
        raise InputError(f"n_chars must be positive, got {n_chars}", "ask for at least a few hundred characters")
    end = text.rfind("\n", 0, n_chars)
    return text[: end if end > n_chars // 2 else n_chars]


# ---- installation -------------------------------------------------------------------------------------

def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def _fetch_debs(folder: Path) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise AssetMissingError("this machine has no apt-get/dpkg-deb, which fetch the course corpus's Debian packages",
                                _manual_hint())
    result = _run(["apt-get", "download", *DEBIAN_PACKAGES], folder)
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        _run(["apt-get", "update", "-qq"], folder)
        result = _run(["apt-get", "download", *DEBIAN_PACKAGES], folder)
    if result.returncode != 0:
        raise AssetMissingError(f"apt-get download failed: {result.stderr.strip()[-300:]}",
                                "check that the Debian package index is reachable, then run it again")
    for deb in folder.glob("*.deb"):
        _run(["dpkg-deb", "-x", str(deb), str(folder / "root")], folder)


def _austen(root: Path) -> str:
    import warnings

    import rdata

    base = root / "usr/lib/R/site-library/janeaustenr/data/Rdata"
    index = rdata.read_rds(f"{base}.rdx")["variables"]
    blob = (base.with_suffix(".rdb")).read_bytes()
    novels = []
    for name in _AUSTEN_NOVELS:
        offset, length = (int(v) for v in index[name])
        # Each object is a 4-byte length followed by a zlib stream of R's serialisation.
        raw = zlib.decompress(blob[offset + 4: offset + length])
        with warnings.catch_warnings():  # rdata warns that a bare serialisation has no file header
            warnings.simplefilter("ignore")
            lines = rdata.conversion.convert(rdata.parser.parse_data(raw))
        novels.append("\n".join(str(line) for line in lines).strip())
    return DOCUMENT_SEPARATOR.join(novels)


def _kjv(root: Path) -> str:
    program = root / "usr/bin/bible"
    result = subprocess.run([str(program), "-p", str(root / "usr/lib"), "Gen1:1-Rev22:21"],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _jargon(root: Path) -> str:
    return gzip.decompress((root / "usr/share/doc/jargon-text/jargon.txt.gz").read_bytes()).decode("utf-8").strip()


def install(force: bool = False) -> Path:
    """Fetch the Debian packages, extract the three texts and write the corpus file atomically."""
    target = corpus_path()
    if target.exists() and not force:
        return target
    with tempfile.TemporaryDirectory(prefix="z2h-corpus-") as tmp:
        folder = Path(tmp)
        _fetch_debs(folder)
        root = folder / "root"
        text = DOCUMENT_SEPARATOR.join([_austen(root), _kjv(root), _jargon(root)])
    partial = target.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m zero2hero.corpus install")
    try:
        path = install()
    except Zero2HeroError as err:  # a clear line, no traceback: e.g. no apt-get on this machine
        sys.exit(f"error: {err}")
    print(f"course corpus: {path} ({path.stat().st_size / 1e6:.1f} MB)")
