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

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from zero2hero.assets import cache_dir
from zero2hero.debian import fetch_packages, read_r_lazyload
from zero2hero.errors import AssetMissingError, InputError, Zero2HeroError
from zero2hero.files import atomic_write_text, os_error

CORPUS_VERSION = "v2"
DEBIAN_PACKAGES = ("r-cran-janeaustenr", "bible-kjv", "bible-kjv-text", "jargon-text")
DOCUMENT_SEPARATOR = "\n\f\n"  # a form feed between documents; none occurs inside them
HELDOUT_SHARE = 0.05
MIN_CORPUS_BYTES = 1_000_000  # the corpus is ~10 MB; a file under 1 MB is a copy cut short
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


def _damaged(problem: str) -> InputError:
    return InputError(f"the course corpus {corpus_path()} {problem}",
                      "rebuild it with `python -m zero2hero.corpus install --force` (or `make setup`)")


def load_corpus() -> str:
    """The whole corpus as one string (about 10 million characters).

    A file that is not UTF-8, ends inside a character, or is far smaller than the corpus (a copy cut
    short) raises :class:`InputError` naming the file and the command that rebuilds it.
    """
    path = corpus_path()
    if not path.exists():
        raise _missing()
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.end == len(data):
            raise _damaged("ends in the middle of a character: it was cut short") from None
        raise _damaged(f"is not valid UTF-8 (byte {err.start:,})") from None
    if len(data) < MIN_CORPUS_BYTES:
        raise _damaged(f"holds only {len(data):,} bytes, not about 10 MB: it was cut short")
    return text


def documents() -> list[str]:
    return load_corpus().split(DOCUMENT_SEPARATOR)


def _split(document: str) -> tuple[str, str]:
    cut = int(len(document) * (1 - HELDOUT_SHARE))
    cut = document.rfind("\n", 0, cut) + 1 or cut  # cut at a line start
    return document[:cut], document[cut:]


def training_text() -> str:
    """The corpus without its held-out part (the first 95 % of each document)."""
    return DOCUMENT_SEPARATOR.join(_split(doc)[0] for doc in documents())


def jargon_file() -> tuple[str, str]:
    """The Jargon File alone (the corpus's last document): its training part and its held-out part."""
    return _split(documents()[-1])  # install() joins Austen's novels, the Bible, then the Jargon File


def austen() -> list[tuple[str, str]]:
    """Jane Austen's six novels (the corpus's first documents), each as (training part, held-out part)."""
    return [_split(novel) for novel in documents()[:len(_AUSTEN_NOVELS)]]


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

def sources_path() -> Path:
    """The JSON record, next to the corpus, of the Debian package versions it was built from."""
    return corpus_path().with_name(f"{corpus_path().stem}.sources.json")


def recorded_package_versions() -> dict[str, str] | None:
    """The Debian package versions recorded when the corpus was installed (None: not recorded, or unreadable)."""
    try:
        versions = json.loads(sources_path().read_text(encoding="utf-8"))["debian_packages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return versions if isinstance(versions, dict) else None


def _austen(root: Path) -> str:
    data = root / "usr/lib/R/site-library/janeaustenr/data"
    novels = ["\n".join(str(line) for line in read_r_lazyload(data, name)).strip() for name in _AUSTEN_NOVELS]
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
        fetched = fetch_packages(DEBIAN_PACKAGES, Path(tmp), without_apt_hint=_manual_hint())
        root = fetched.root
        text = DOCUMENT_SEPARATOR.join([_austen(root), _kjv(root), _jargon(root)])
        versions = fetched.versions
    atomic_write_text(target, text)
    atomic_write_text(sources_path(), json.dumps({"debian_packages": versions}, indent=2))
    return target


def main(argv: list[str]) -> None:
    """``python -m zero2hero.corpus install [--force]``: build the corpus (again, with ``--force``)."""
    parser = argparse.ArgumentParser(prog="python -m zero2hero.corpus", description="Install the course corpus.")
    parser.add_argument("command", choices=["install"])
    parser.add_argument("--force", action="store_true", help="rebuild it even if it exists (e.g. a damaged copy)")
    args = parser.parse_args(argv)
    try:
        path = install(force=args.force)
    except Zero2HeroError as err:  # a clear line, no traceback: e.g. no apt-get on this machine
        sys.exit(f"error: {err}")
    except OSError as err:  # e.g. a full disk
        sys.exit(f"error: {os_error(err)}")
    print(f"course corpus: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1:])
