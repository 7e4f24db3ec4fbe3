"""Prompt sets: every built-in set loads and survives a round trip through YAML and JSON lines; every validation
error says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.prompting.functional import render_template
from zero2hero.prompting.promptset import (
    Item,
    PromptSet,
    Shot,
    builtin_prompt_sets,
    load_prompt_set,
    prompt_set_from_dict,
)

LABEL_SET = {
    "name": "capitals", "kind": "label", "description": "Is the city the capital?", "system": "One word.",
    "templates": {"question": "Is {city} the capital of {country}?", "statement": "{city}, {country}: capital?"},
    "labels": ["capital", "other"], "label_words": {"capital": "yes", "other": "no"},
    "items": [{"id": "paris", "city": "Paris", "country": "France", "reference": "capital"},
              {"id": "sydney", "city": "Sydney", "country": "Australia", "reference": "other"}],
    "pool": [{"city": "Rome", "country": "Italy", "answer": "capital", "reasoning": "Rome is Italy's capital."}],
}


def _as_file_dict(ps: PromptSet) -> dict:
    """A loaded set written back in the file format (items and pool spelled out)."""
    raw = {"name": ps.name, "kind": ps.kind, "description": ps.description, "system": ps.system,
           "templates": ps.templates, "max_new_tokens": ps.max_new_tokens, "shots": ps.shots,
           "items": [{"id": i.id, **i.variables, **({"reference": i.reference} if i.reference is not None else {})}
                     for i in ps.items],
           "pool": [{**s.variables, "answer": s.answer, **({"reasoning": s.reasoning} if s.reasoning else {})}
                    for s in ps.pool]}
    extra = {"label": {"labels": ps.labels, "label_words": ps.label_words}, "json": {"schema": ps.schema},
             "free": {"rubric": ps.rubric}}
    return {**raw, **extra.get(ps.kind, {})}


def test_the_builtin_sets_are_the_four_of_chapter_8() -> None:
    assert builtin_prompt_sets() == ["arithmetic", "json-orders", "qualitative", "sentiment"]


@pytest.mark.parametrize("name", ["arithmetic", "json-orders", "qualitative", "sentiment"])
def test_a_builtin_set_loads_and_every_template_fills_for_every_item(name: str) -> None:
    ps = load_prompt_set(name)
    assert ps.name == name and ps.system and ps.description
    assert len(ps.templates) >= 2 and ps.items
    for template in ps.templates.values():
        for values in [i.variables for i in ps.items] + [s.variables for s in ps.pool]:
            assert any(value in render_template(template, values) for value in values.values())
    assert len({i.id for i in ps.items}) == len(ps.items)
    assert not {tuple(s.variables.items()) for s in ps.pool} & {tuple(i.variables.items()) for i in ps.items}


@pytest.mark.parametrize("name", ["arithmetic", "json-orders", "qualitative", "sentiment"])
def test_a_builtin_set_round_trips_through_yaml_and_jsonl(name: str, tmp_path: Path) -> None:
    ps = load_prompt_set(name)
    raw = _as_file_dict(ps)
    (tmp_path / "set.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    header = {key: value for key, value in raw.items() if key != "items"}
    lines = [json.dumps({"prompt_set": header})] + [json.dumps(item) for item in raw["items"]]
    (tmp_path / "set.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert load_prompt_set(tmp_path / "set.yaml") == ps
    assert load_prompt_set(str(tmp_path / "set.jsonl")) == ps


def test_a_set_from_a_mapping_has_its_items_pool_and_label_words() -> None:
    ps = prompt_set_from_dict(LABEL_SET)
    assert ps.items[0] == Item("paris", {"city": "Paris", "country": "France"}, "capital")
    assert ps.pool == [Shot({"city": "Rome", "country": "Italy"}, "capital", "Rome is Italy's capital.")]
    assert ps.label_words == {"capital": "yes", "other": "no"} and ps.labels == ["capital", "other"]
    assert ps.max_new_tokens == 32 and ps.shots == 0 and ps.schema is None


def test_yaml_numbers_and_mappings_become_text_and_json() -> None:
    ps = prompt_set_from_dict({
        "name": "j", "kind": "json", "templates": {"t": "{s}"},
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        "items": [{"id": 7, "s": 12, "reference": {"n": 3}}]})
    assert ps.items == [Item("7", {"s": "12"}, '{"n": 3}')]


def test_generator_parameters_can_be_overridden() -> None:
    ps = load_prompt_set("arithmetic", parameters={"levels": [2], "items": 5, "pool": 1})
    assert [i.id for i in ps.items] == [f"L2-00{n}" for n in range(1, 6)] and len(ps.pool) == 1


def _error(raw: dict) -> str:
    with pytest.raises(InputError) as caught:
        prompt_set_from_dict(raw, source="my.yaml")
    return str(caught.value)


def _with(**changes: object) -> dict:
    return {**LABEL_SET, **changes}


@pytest.mark.parametrize(("raw", "expected"), [
    (_with(tempates={}), "my.yaml: unknown key 'tempates' (did you mean 'templates'?)"),
    (_with(kind="classify"), "my.yaml: kind 'classify' is not one of label, number, json, free"),
    (_with(templates={"t": "{city} in {land}"}),
     "my.yaml: template 't' uses {land} but item 'paris' has no 'land'"),
    (_with(templates={"t": "{city} {country}"}, items=[{"id": "x", "city": "a", "countyr": "b", "reference": "other"}]),
     "my.yaml: template 't' uses {country} but item 'x' has no 'country'"),
    (_with(items=[{"id": "x", "city": "a", "country": "b", "refrence": "other"}]),
     "my.yaml: item 'x' has a field 'refrence' that no template uses (did you mean 'reference'?)"),
    (_with(pool=[{"city": "a", "answer": "other"}]), "template 'question' uses {country} but pool shot 1 has no"),
    (_with(shots=2, pool=[]), "my.yaml asks for 2 shots but its pool holds 0"),
    (_with(items=[{"id": "x", "city": "a", "country": "b"}]), "my.yaml: item 'x' has no reference"),
    (_with(items=[{"id": "x", "city": "a", "country": "b", "reference": "yes"}]),
     "my.yaml: item 'x': reference 'yes' is not one of the labels capital, other"),
    (_with(pool=[{"city": "a", "country": "b", "answer": "maybe"}]),
     "my.yaml: pool shot 1: answer 'maybe' is not one of the labels"),
    (_with(items=[{"id": "x", "city": "a", "country": "b", "reference": "other"}] * 2),
     "my.yaml: two items have the id 'x'"),
    (_with(items=[]), "my.yaml has no items"),
    (_with(labels=["capital"]), "labels ['capital'] are not two or more distinct names"),
    (_with(label_words={"capitol": "yes"}), "label_words: unknown key 'capitol' (did you mean 'capital'?)"),
    (_with(label_words={"capital": "yes", "other": "Yes"}), "give two labels the same word"),
    (_with(schema={"type": "object"}), "'schema' is for kind json, and this set's kind is label"),
    (_with(templates={"t": "{city} {"}), "template 't' is malformed"),
    (_with(templates={"t": "{0} {city}"}), "template 't' has the field {0}, which is not a variable name"),
    (_with(items=[{"id": "x", "city": "a", "country": True, "reference": "other"}]),
     "item 'x': country is true, a boolean"),
    (_with(max_new_tokens=0), "my.yaml: max_new_tokens is 0"),
    (_with(source="arithmetic"), "my.yaml has both a source and items or a pool"),
    (_with(parameters={"items": 3}), "parameters are given but the set has no source"),
    ({**{k: v for k, v in LABEL_SET.items() if k not in ("items", "pool")}, "source": "arithmetic",
      "parameters": {"itmes": 3}}, "my.yaml: parameters of arithmetic: unknown key 'itmes' (did you mean 'items'?)"),
])
def test_each_mistake_in_a_set_is_named(raw: dict, expected: str) -> None:
    assert expected in _error(raw)


NUMBER_SET = {"name": "n", "kind": "number", "templates": {"t": "{q}", "u": "Q: {q}"},
              "items": [{"id": "a", "q": "2+2?", "reference": 4}]}
JSON_SET = {"name": "j", "kind": "json", "templates": {"t": "{s}"},
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            "items": [{"id": "a", "s": "three", "reference": {"n": 3}}]}


@pytest.mark.parametrize(("raw", "expected"), [
    ({**NUMBER_SET, "items": [{"id": "a", "q": "2+2?", "reference": "four"}]},
     "item 'a': reference 'four' is not a number"),
    ({**JSON_SET, "items": [{"id": "a", "s": "x", "reference": {"n": "3"}}]},
     "item 'a': reference does not meet the schema ('3' is not of type 'integer')"),
    ({**JSON_SET, "items": [{"id": "a", "s": "x", "reference": "{n: 3}"}]}, "item 'a': reference is not JSON"),
    ({k: v for k, v in JSON_SET.items() if k != "schema"}, "my.yaml has no JSON schema"),
    ({**JSON_SET, "schema": {"type": "objekt"}}, "the schema is not a valid JSON Schema"),
    ({**NUMBER_SET, "labels": ["a", "b"]}, "'labels' is for kind label"),
])
def test_each_mistake_of_a_number_or_json_set_is_named(raw: dict, expected: str) -> None:
    assert expected in _error(raw)


def test_a_free_set_needs_no_reference() -> None:
    ps = prompt_set_from_dict({"name": "f", "kind": "free", "templates": {"t": "{q}"}, "rubric": ["fluency"],
                               "items": [{"id": "a", "q": "Say hi."}]})
    assert ps.items[0].reference is None and ps.rubric == ["fluency"]


def test_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_prompt_set(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: label\ntemplates:\n  t: \"{a}\n  u: b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.yaml is not valid YAML \(line 6"):
        load_prompt_set(bad)
    text = tmp_path / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the format"):
        load_prompt_set(text)
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text(json.dumps({"prompt_set": {"name": "n", "kind": "free", "templates": {"t": "{q}"}}})
                     + "\n{\"id\": \"a\", \"q\": \"hi\"}\n{\"id\": oops}\n", encoding="utf-8")
    with pytest.raises(InputError, match="set.jsonl line 3 is not JSON"):
        load_prompt_set(jsonl)
    jsonl.write_text("{\"id\": \"a\", \"q\": \"hi\"}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"set.jsonl line 1 is not the header \{\"prompt_set\""):
        load_prompt_set(jsonl)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not a mapping of keys"):
        load_prompt_set(listed)


def test_an_unknown_set_name_suggests_the_nearest_builtin() -> None:
    with pytest.raises(UnknownNameError, match="no built-in prompt set 'sentimnet' \\(did you mean 'sentiment'\\?\\)"):
        load_prompt_set("sentimnet")

