"""Reading learner-supplied text files, with a clear error for anything that is not UTF-8 text."""

from __future__ import annotations

from pathlib import Path

from zero2hero.errors import InputError

# A file is treated as binary when a NUL byte appears in its first block: text files never hold one.
_SNIFF_BYTES = 8192


def read_text_file(path: str | Path) -> str:
    """Read a UTF-8 text file, refusing directories, empty, binary and non-UTF-8 files.

    A leading byte-order mark is dropped. Raises :class:`InputError` with a hint on what to pass instead.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file", "check the path, or omit it to use the built-in article")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a text file", "pass one UTF-8 text file")
    data = path.read_bytes()
    return decode_text(data, source=str(path))


def decode_text(data: bytes, source: str = "input") -> str:
    """Decode bytes as UTF-8 text, refusing empty, binary (NUL bytes) and invalid UTF-8 input."""
    if not data.strip():
        raise InputError(f"{source} is empty", "pass a file that contains some text")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise InputError(f"{source} looks binary (it contains NUL bytes)", "pass a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{source} is not valid UTF-8 (bad byte at offset {err.start})",
            "convert it first, e.g. `iconv -f latin1 -t utf-8 FILE > out.txt`",
        ) from None
    return text.removeprefix("\ufeff")


def read_lines_file(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped (e.g. one prompt per line)."""
    lines = [line.strip() for line in read_text_file(path).splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path} has no non-blank line", "write one item per line")
    return lines
