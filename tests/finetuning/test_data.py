from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from zero2hero.errors import AssetMissingError, InputError
from zero2hero.finetuning import data
from zero2hero.finetuning.data import Example, check_labels, load_labelled_file

ROWS = {
    "train.jsonl": [{"text": "Lovely tea, will buy again.", "label": "great"},
                    {"text": "Stale crackers.", "label": "other"},
                    {"text": "Best jam ever <br />so fresh", "label": "great"}],
    "test.jsonl": [{"text": "Too sweet for me.", "label": "other"}],
}


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# ---- a learner's own file --------------------------------------------------------------------------------

def test_csv_labels_become_ids_in_sorted_name_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "reviews.csv",
                  'review,stars\n"Good, really good",pos\nAwful,neg\n"Fine\nsecond line",pos\n')
    examples, names = load_labelled_file(path, text_column="review", label_column="stars")
    assert names == ["neg", "pos"]
    assert examples == [Example("Good, really good", 1), Example("Awful", 0), Example("Fine\nsecond line", 1)]


def test_whole_number_labels_sort_by_value_and_json_numbers_equal_strings(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", '{"text": "a", "label": 10}\n\n{"text": "b", "label": "2"}\n'
                                         '{"text": "c", "label": 2}\n')
    examples, names = load_labelled_file(path)
    assert names == ["2", "10"]
    assert [e.label for e in examples] == [1, 0, 0]


def test_tsv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.tsv", "\ufefftext\tlabel\nyes, tabs\tb\nno\ta\n")
    assert load_labelled_file(path) == ([Example("yes, tabs", 1), Example("no", 0)], ["a", "b"])


def test_test_file_uses_the_training_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "test.csv", "text,label\nonly the second class,pos\n")
    examples, names = load_labelled_file(path, label_names=["neg", "pos"])
    assert examples == [Example("only the second class", 1)] and names == ["neg", "pos"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_labelled_file(tmp_path / "nope.csv")


def test_missing_column_lists_the_columns_that_exist(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "review,score\ngood,great\n")
    with pytest.raises(InputError, match="no column 'text'; its columns are: 'review', 'score'"):
        load_labelled_file(path)
    path = _write(tmp_path / "a.jsonl", '{"text": "good", "label": "x"}\n{"text": "bad", "stars": 1}\n')
    with pytest.raises(InputError, match="line 2 has no field 'label'; its fields are: 'text', 'stars'"):
        load_labelled_file(path)


def test_empty_texts_name_their_records(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "text,label\ngood,a\n   ,b\nfine,a\n,b\n")
    with pytest.raises(InputError, match=r"empty text in 2 record\(s\): 2, 4"):
        load_labelled_file(path)
    path = _write(tmp_path / "b.jsonl", '{"text": "ok", "label": "a"}\n{"text": null, "label": "b"}\n')
    with pytest.raises(InputError, match=r"empty text in 1 record\(s\): 2"):
        load_labelled_file(path)


def test_empty_labels_name_their_records(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "text,label\ngood,a\nbad,\nfine,b\n")
    with pytest.raises(InputError, match=r"empty label in 1 record\(s\): 2"):
        load_labelled_file(path)


def test_a_single_class_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "text,label\ngood,great\nnice,great\n")
    with pytest.raises(InputError, match="every example .* has the label 'great'") as info:
        load_labelled_file(path)
    assert "two classes" in info.value.hint


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "text,label\ncaf\xe9,a\nbad,b\n".encode("latin-1"))
    with pytest.raises(InputError, match="not valid UTF-8") as info:
        load_labelled_file(path)
    assert "iconv" in info.value.hint


def test_unknown_format_and_broken_json(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot tell the format"):
        load_labelled_file(_write(tmp_path / "a.xlsx", "text,label\n"))
    with pytest.raises(InputError, match="line 2 is not JSON"):
        load_labelled_file(_write(tmp_path / "a.jsonl", '{"text": "a", "label": 1}\n{"text": \n'))
    with pytest.raises(InputError, match="line 1 is not a JSON object"):
        load_labelled_file(_write(tmp_path / "b.jsonl", '["a", 1]\n'))
    with pytest.raises(InputError, match="holds no examples"):
        load_labelled_file(_write(tmp_path / "c.csv", "text,label\n"))


def test_test_labels_never_seen_in_training_are_refused(tmp_path: Path) -> None:
    check_labels(["neg", "pos"], ["pos", "pos", "neg"])
    with pytest.raises(InputError, match="never has: 'neutral' .*training labels are 'neg', 'pos'"):
        check_labels(["neg", "pos"], ["pos", "neutral"])
    path = _write(tmp_path / "test.csv", "text,label\nmeh,neutral\nyes,pos\n")
    with pytest.raises(InputError, match="test.csv has labels the training data never has: 'neutral'"):
        load_labelled_file(path, label_names=["neg", "pos"])


# ---- the installed data set ----------------------------------------------------------------------------------

@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("Z2H_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_fetch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the Debian download by the small ROWS; the list counts the fetches."""
    fetches: list[int] = []

    def fetch() -> tuple[dict, list[str], str]:
        fetches.append(1)
        return ROWS, ["great", "other"], "9.9.9-1"

    monkeypatch.setattr(data, "_fetch_fine_foods", fetch)
    return fetches


def test_install_writes_jsonl_and_a_card_with_checksums(cache: Path, fake_fetch: list[int]) -> None:
    folder = data.install_fine_foods()
    assert folder == cache / "fine-foods-v1"
    assert sorted(p.name for p in cache.iterdir()) == ["fine-foods-v1"]  # no temporary left behind
    lines = (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == ROWS["train.jsonl"]
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert card["source"]["debian_package"] == "r-cran-modeldata" and card["source"]["debian_version"] == "9.9.9-1"
    assert card["licence"].startswith("MIT") and card["label_names"] == ["great", "other"]
    assert card["files"]["train.jsonl"]["rows"] == 3
    assert card["files"]["train.jsonl"]["class_counts"] == {"great": 2, "other": 1}
    for name in ("train.jsonl", "test.jsonl"):
        assert card["files"][name]["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    loaded = data.load_fine_foods()
    assert loaded.label_names == ["great", "other"]
    assert loaded.train[2] == Example("Best jam ever <br />so fresh", 0)
    assert loaded.test == [Example("Too sweet for me.", 1)]


def test_an_intact_install_is_kept_and_a_damaged_one_replaced(cache: Path, fake_fetch: list[int]) -> None:
    folder = data.install_fine_foods()
    data.install_fine_foods()
    assert len(fake_fetch) == 1
    _write(folder / "test.jsonl", '{"text": "Too sweet for me.", "label": "great"}\n')
    with pytest.raises(AssetMissingError, match="does not match the SHA-256") as info:
        data.load_fine_foods()
    assert "python -m zero2hero.finetuning.data install" in info.value.hint
    data.install_fine_foods()
    assert len(fake_fetch) == 2 and data.load_fine_foods().test == [Example("Too sweet for me.", 1)]
    data.install_fine_foods(force=True)
    assert len(fake_fetch) == 3
    assert sorted(p.name for p in cache.iterdir()) == ["fine-foods-v1"]


def test_a_failed_forced_install_keeps_the_old_copy(cache: Path, fake_fetch: list[int],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data.install_fine_foods()

    def no_network() -> None:
        raise AssetMissingError("apt-get download failed")

    def full_disk(self: Path, content: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data, "_fetch_fine_foods", no_network)
    with pytest.raises(AssetMissingError, match="download failed"):
        data.install_fine_foods(force=True)
    monkeypatch.setattr(data, "_fetch_fine_foods", lambda: (ROWS, ["great", "other"], "9.9.9-2"))
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        data.install_fine_foods(force=True)
    monkeypatch.undo()
    monkeypatch.setenv("Z2H_CACHE", str(cache))
    card = json.loads((cache / "fine-foods-v1" / "card.json").read_text(encoding="utf-8"))
    assert card["source"]["debian_version"] == "9.9.9-1"
    assert sorted(p.name for p in cache.iterdir()) == ["fine-foods-v1"]
    assert len(data.load_fine_foods().train) == 3


def test_missing_install_says_how_to_install_or_use_another_file(cache: Path) -> None:
    with pytest.raises(AssetMissingError, match="not installed") as info:
        data.load_fine_foods()
    assert "make setup" in info.value.hint and "python -m zero2hero.finetuning.data install" in info.value.hint
    assert "load_labelled_file" in info.value.hint


def test_install_command_without_apt_prints_one_line(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "Z2H_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "zero2hero.finetuning.data", "install"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: this machine has no apt-get") and "load_labelled_file" in result.stderr


def test_installs_the_real_fine_food_reviews(cache: Path) -> None:
    data.install_fine_foods()
    loaded = data.load_fine_foods()
    card = json.loads((cache / "fine-foods-v1" / "card.json").read_text(encoding="utf-8"))
    assert card["source"]["debian_version"].startswith("1.1.0")
    assert loaded.label_names == ["great", "other"]
    assert (len(loaded.train), len(loaded.test)) == (4000, 1000)
    assert [sum(e.label == i for e in loaded.train) for i in (0, 1)] == [2600, 1400]
    assert [sum(e.label == i for e in loaded.test) for i in (0, 1)] == [658, 342]
    assert loaded.train[0] == Example("this stuff is  not stuffing  its  not good at all  save your money", 1)
