"""The lessons as documents: every link and figure they reference exists, each follows the header template,
hides its answers behind a fold, and the hand-worked BPE example agrees with both trainers."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from zero2hero.chapters import chapter as registered
from zero2hero.course_figures import LESSON_FIGURES, chapter_dir, copy_lesson_figures
from zero2hero.errors import AssetMissingError
from zero2hero.tokenization.bpe_train import train_bpe
from zero2hero.tokenization.byte_level import pretokenize, to_symbols

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(ROOT.glob("course/[0-9][0-9]-*/lesson.md"))
DOCUMENTS = [*LESSONS, ROOT / "README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADER_FIELDS = ("Objectives", "Time to study", "Prerequisites", "What you will write", "How to run")


def _relative_targets(document: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)  # code is not a link
    targets = [t.split("#")[0] for t in LINK.findall(text)]
    return [t for t in targets if t and not re.match(r"[a-z]+:", t)]


def test_every_course_folder_has_its_lesson_checked() -> None:
    folders = sorted(p.name[:2] for p in ROOT.glob("course/[0-9][0-9]-*") if (p / "exercises.py").exists())
    assert [p.parent.name[:2] for p in LESSONS] == folders and len(folders) >= 6


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_figure_exists(document: Path) -> None:
    missing = [t for t in _relative_targets(document) if not (document.parent / t).exists()]
    assert not missing, f"{document.relative_to(ROOT)} links to files that do not exist: {missing}"


@pytest.mark.parametrize("chapter", sorted(LESSON_FIGURES))
def test_each_lesson_embeds_exactly_the_figures_make_figures_copies(chapter: int) -> None:
    lesson = chapter_dir(chapter) / "lesson.md"
    embedded = {t for t in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", lesson.read_text(encoding="utf-8"))}
    assert embedded == {f"figures/{name}" for name in LESSON_FIGURES[chapter]}
    for name in LESSON_FIGURES[chapter]:
        figure = lesson.parent / "figures" / name
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size < 300_000


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.parent.name)
def test_lesson_follows_the_template(lesson: Path) -> None:
    text = lesson.read_text(encoding="utf-8")
    header = text.split("\n## ", 1)[0]
    for field in HEADER_FIELDS:
        assert f"**{field}**" in header, f"{lesson.parent.name}: the header lacks {field!r}"
    for target in ("notebook.py", "exercises.py"):
        assert f"]({target})" in header, f"{lesson.parent.name}: the header does not link {target}"
    assert re.search(r"^## \d+\. Exercises", text, re.M), "no Exercises section"
    self_check = text.split("Self-check", 1)
    assert len(self_check) == 2 and self_check[1].count("<summary>Answer</summary>") >= 3
    assert text.count("<details>") == text.count("</details>")
    discussion = text.split("Discussion questions", 1)[1].split("\n## ", 1)[0]
    questions = re.findall(r"^\d+\. ", discussion, re.M)
    assert len(questions) >= 4 and discussion.count("<summary>Answer</summary>") == len(questions)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.search(r"\btargets?\b", prose, re.I), "lessons speak to learners, not about project targets"


# The hand-worked example of chapter 2's lesson: its corpus, and its table of the first six merges.
HAND_WORKED_CORPUS = " ".join(["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5)
HAND_WORKED_MERGES = 6


def _lesson_merge_table() -> list[tuple[int, str, str, int, str]]:
    text = (chapter_dir(2) / "lesson.md").read_text(encoding="utf-8")
    table = text.split("<!-- bpe-hand-worked -->", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\S+)` \+ `(\S+)` \| (\d+) \| `(\S+)` \|", table, re.M)
    return [(int(step), a, b, int(count), merged) for step, a, b, count, merged in rows]


def _naive_merges(text: str, n: int) -> list[tuple[str, str, int]]:
    """Recount every pair after each merge, the slow way, independently of the trainer."""
    words = Counter(to_symbols(piece) for piece in pretokenize(text))
    parts = {word: list(word) for word in words}
    merges = []
    for _ in range(n):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, freq in words.items():
            for pair in zip(parts[word], parts[word][1:], strict=False):
                pairs[pair] += freq
        (best, count), runner_up = pairs.most_common(2)
        assert count > runner_up[1], "the example must have no ties, so that every trainer agrees"
        merges.append((*best, count))
        for word, symbols in parts.items():
            merged, i = [], 0
            while i < len(symbols):
                if tuple(symbols[i:i + 2]) == best:
                    merged.append(best[0] + best[1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            parts[word] = merged
    return merges


def test_the_lessons_hand_worked_bpe_matches_both_trainers() -> None:
    lesson_rows = _lesson_merge_table()
    assert [step for step, *_ in lesson_rows] == list(range(1, HAND_WORKED_MERGES + 1))
    assert [(a, b, count) for _, a, b, count, _ in lesson_rows] == _naive_merges(HAND_WORKED_CORPUS,
                                                                                 HAND_WORKED_MERGES)
    assert all(merged == a + b for _, a, b, _, merged in lesson_rows)
    ours = train_bpe(HAND_WORKED_CORPUS, 256 + HAND_WORKED_MERGES).merges
    rust = Tokenizer(models.BPE())
    rust.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    rust.train_from_iterator([HAND_WORKED_CORPUS], trainers.BpeTrainer(
        vocab_size=256 + HAND_WORKED_MERGES, min_frequency=0, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    rust_merges = [tuple(m) for m in json.loads(rust.to_str())["model"]["merges"]]
    assert ours == rust_merges == [(a, b) for _, a, b, _, _ in lesson_rows]


def test_the_lesson_shows_the_tested_corpus_and_encodings() -> None:
    text = (chapter_dir(2) / "lesson.md").read_text(encoding="utf-8")
    assert '["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5' in text
    tokenizer = train_bpe(HAND_WORKED_CORPUS, 256 + HAND_WORKED_MERGES)
    table = text.split("<!-- bpe-hand-encoded -->", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\S+)` \| `(\S+)` \|$", table, re.M)
    assert len(rows) == 4
    for word, pieces in rows:
        ids = tokenizer.encode(word.replace("Ġ", " "))
        assert "|".join(tokenizer.id_to_symbols[i] for i in ids) == pieces.replace("\\|", "|")


def test_copy_lesson_figures_copies_the_newest_and_refuses_missing_ones(tmp_path: Path) -> None:
    course = tmp_path / "course"
    for chapter in LESSON_FIGURES:
        (course / registered(chapter).folder_name).mkdir(parents=True)
    runs = tmp_path / "runs"
    for chapter, names in LESSON_FIGURES.items():
        folder = runs / f"20260101-000000-{registered(chapter).lab_id}"
        for name in names:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(f"old {chapter}".encode())
    with pytest.raises(AssetMissingError, match="z2h lab 1 --full"):
        copy_lesson_figures(tmp_path / "course")  # a folder without any run
    newest = runs / f"20260102-000000-{registered(1).lab_id}" / LESSON_FIGURES[1][0]
    newest.parent.mkdir()
    newest.write_bytes(b"new")
    written = copy_lesson_figures(runs, course)
    assert len(written) == sum(map(len, LESSON_FIGURES.values()))
    assert (course / registered(1).folder_name / "figures" / LESSON_FIGURES[1][0]).read_bytes() == b"new"
    last = max(LESSON_FIGURES)
    last_figure = course / registered(last).folder_name / "figures" / LESSON_FIGURES[last][0]
    assert last_figure.read_bytes() == f"old {last}".encode()
    # Two labs write a figure of the same name: each lesson gets its own lab's.
    shared = set(LESSON_FIGURES[5]) & set(LESSON_FIGURES[6])
    assert shared, "the lessons of chapters 5 and 6 both embed a loss_curves.png"
    for name in shared:
        assert (course / registered(5).folder_name / "figures" / name).read_bytes() == b"old 5"


CURRICULUM_MAP = "## Curriculum map"


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings: lower case, punctuation other than `-` dropped, each space a `-`,
    and `-1`, `-2`, … after a repeated one."""
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.parent.name)
def test_the_curriculum_map_points_at_sections_and_files_that_exist(lesson: Path) -> None:
    text = lesson.read_text(encoding="utf-8")
    assert f"\n{CURRICULUM_MAP}\n" in text, f"{lesson.parent.name} has no '{CURRICULUM_MAP}' section"
    section = text.split(f"\n{CURRICULUM_MAP}\n", 1)[1].split("\n## ", 1)[0]
    table = [line.strip() for line in section.splitlines() if line.startswith("|")]
    assert len(table) >= 3 and re.fullmatch(r"\|(\s*:?-+:?\s*\|){2}", table[1]), "the map is not a two-column table"
    for row in table[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 2 and all(cells), f"{lesson.parent.name}: a map row needs a bullet and a place: {row}"
    anchors = _github_anchors(text)
    for link in LINK.findall(section):
        path, _, anchor = link.partition("#")
        if re.match(r"[a-z]+:", path):
            continue
        target = lesson.parent / path if path else lesson
        assert target.exists(), f"{lesson.parent.name}: the map links to a missing file {path}"
        if anchor and (not path or path.endswith(".md")):
            known = _github_anchors(target.read_text(encoding="utf-8")) if path else anchors
            assert anchor in known, f"{lesson.parent.name}: the map links to #{anchor}, a heading that does not exist"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.parent.name)
def test_the_reading_time_in_the_header_counts_the_lesson(lesson: Path) -> None:
    """The header's word count is within 10 % of the lesson's (``wc -w``), and its minutes are words ÷ 200."""
    text = lesson.read_text(encoding="utf-8")
    found = re.search(r"reading about (\d+) min \(([\d,]+) words at 200 a minute\)", text)
    assert found, f"{lesson.parent.name}: the header gives no reading time"
    minutes, stated = int(found[1]), int(found[2].replace(",", ""))
    words = len(text.split())
    assert abs(stated - words) <= 0.1 * words, f"{lesson.parent.name}: says {stated:,} words, has {words:,}"
    assert minutes == round(stated / 200), f"{lesson.parent.name}: {stated:,} words are {round(stated / 200)} min"
