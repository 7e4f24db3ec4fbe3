"""The lab contract (docs/contracts.md), checked for every lab: names from the chapter registry, quick
sizing in one place that never overrides the user, options refused, metric names that carry their unit,
every figure linked from the report, and a ``run`` that reads as a short list of steps."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

from tests.labs.conftest import HEAVY_LABS
from zero2hero.chapters import CHAPTERS, chapter
from zero2hero.errors import InputError
from zero2hero.labs import available_labs
from zero2hero.labs.runner import make_config
from zero2hero.units import naming_problem

LABS = [pytest.param(n, marks=pytest.mark.heavy) if n in HEAVY_LABS else n for n in available_labs()]


def test_every_chapter_with_a_course_folder_uses_its_registry_names() -> None:
    from zero2hero.checks import repo_root

    folders = {p.name for p in (repo_root() / "course").iterdir() if p.is_dir()}
    for ch in CHAPTERS:
        matching = {f for f in folders if f.startswith(f"{ch.number:02d}-")}
        assert matching <= {ch.folder_name}, f"chapter {ch.number}: folder {matching} is not {ch.folder_name}"
    assert {1, 2, 3, 4} <= set(available_labs())


@pytest.mark.parametrize("number", list(available_labs()))
def test_lab_module_shape(number: int) -> None:
    lab = available_labs()[number]
    module = lab.load()
    assert lab.lab_id == chapter(number).lab_id and module.CHAPTER == number and module.TITLE
    fields = {f.name: f for f in dataclasses.fields(module.Config)}
    assert fields["quick"].default is True
    assert set(module.QUICK) <= set(fields) - {"quick"}, "QUICK may only size the lab's own options"
    source = inspect.getsource(module.run)
    assert source.count("ctx.step(") >= 3 and len(source.splitlines()) <= 30, "run is a short list of steps"
    assert "add_metric" not in inspect.getsource(module), "helpers return Sections; run adds them"


@pytest.mark.parametrize("number", list(available_labs()))
def test_quick_sizing_never_overrides_what_the_user_passed(number: int) -> None:
    lab = available_labs()[number]
    module = lab.load()
    defaults = module.Config(quick=False)
    quick = make_config(lab, quick=True)
    for name, value in module.QUICK.items():
        assert getattr(quick, name) == value
        assert getattr(make_config(lab, quick=False), name) == getattr(defaults, name)
        mine = getattr(defaults, name)  # the user passes the full-mode value explicitly: it must stay
        if mine != value:
            assert getattr(make_config(lab, quick=True, overrides={name: mine}), name) == mine


@pytest.mark.parametrize("number", list(available_labs()))
def test_options_a_lab_does_not_take_are_refused(number: int) -> None:
    lab = available_labs()[number]
    with pytest.raises(InputError, match=rf"lab {number} does not take --nonsense"):
        make_config(lab, quick=True, overrides={"nonsense": 1}, option_names={"nonsense": "--nonsense"})


@pytest.mark.parametrize("number", LABS)
def test_quick_run_follows_the_result_contract(number: int, quick_run) -> None:
    run = quick_run(number)
    assert run.result.lab == chapter(number).lab_id and run.folder.name.endswith(chapter(number).lab_id)
    names = [m.name for m in run.result.metrics]
    assert len(names) == len(set(names)) and names
    assert [naming_problem(n) for n in names if naming_problem(n)] == []
    report = (run.folder / "report.md").read_text(encoding="utf-8")
    assert run.result.figures, "every lab draws at least one figure"
    for figure in run.result.figures:
        assert (run.folder / figure.filename).stat().st_size > 1000, f"{figure.filename} was not written"
        assert f"]({figure.filename})" in report, f"{figure.filename} is not linked from the report"
    assert re.search(r"ran in [\d.]+ s", report)
