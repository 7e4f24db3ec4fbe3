"""Prompt sets: the items a prompt is tried on, the templates that turn an item into a prompt, and how answers score.

A prompt set is a YAML file (or JSON lines, below). Its top-level keys:

- ``name``, ``kind`` (how an output is scored: ``label``, ``number``, ``json`` or ``free``), ``description``;
- ``system``: the system prompt (leave it out for none);
- ``templates``: template name -> the user message, with ``{variable}`` fields filled from each item (``{{`` and
  ``}}`` are literal braces); the first template is the default, the others are paraphrases to compare;
- per kind: ``labels`` and ``label_words`` (``label``: the label names, and the word the model answers for each),
  ``schema`` (``json``: a JSON Schema every answer must meet), ``rubric`` (``free``: criteria a reader scores 1-5);
- ``max_new_tokens`` (default 32) and ``shots`` (how many few-shot examples the set asks for by default; 0);
- ``items``: one mapping per item: ``id``, ``reference`` (the gold answer; not for ``free``) and the values of the
  templates' variables;
- ``pool``: worked examples for few-shot prompts: the variables, ``answer`` and, for chain-of-thought, ``reasoning``;
- or, instead of ``items`` and ``pool``, ``source`` (a generator of :mod:`zero2hero.prompting.tasks`) and its
  ``parameters``: the built-in ``arithmetic``, ``sentiment`` and ``json-orders`` sets are made that way.

An example::

    name: capitals
    kind: label
    description: Is the city named the capital of the country?
    system: You answer with one word.
    templates:
      question: "Is {city} the capital of {country}? Answer yes or no."
      statement: "{city} is the capital of {country}. True or false?"
    labels: [capital, other]
    label_words: {capital: "yes", other: "no"}
    max_new_tokens: 3
    items:
      - {id: paris, city: Paris, country: France, reference: capital}
      - {id: sydney, city: Sydney, country: Australia, reference: other}
    pool:
      - {city: Rome, country: Italy, answer: capital, reasoning: "Rome has been Italy's capital since 1871."}

YAML reads an unquoted ``yes``/``no``/``true``/``false`` as a boolean: quote such words.

A JSON lines file (``.jsonl``) holds the same: its first line is ``{"prompt_set": {...}}`` with every key but
``items``, and each further line is one item, e.g. ``{"id": "paris", "city": "Paris", "country": "France",
"reference": "capital"}``.

Loading checks the set and raises :class:`~zero2hero.errors.InputError` with a hint for: a missing or unreadable
file (with the line of a syntax error), an unknown key (naming the nearest valid one) or kind, a template variable
an item or shot lacks, an item field no template uses, a missing or invalid reference (a label not among the labels,
a JSON answer that does not meet the schema), duplicate item ids, and shots asked for with an empty pool.
"""

from __future__ import annotations

import difflib
import inspect
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import jsonschema
import yaml

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.prompting.functional import extract_number, normalise_answer
from zero2hero.text.io import decode_text

Kind = Literal["label", "number", "json", "free"]  # how an output is scored
KINDS: tuple[str, ...] = get_args(Kind)
SETS_DIR = Path(__file__).parent / "sets"  # the built-in sets, shipped as package data

_SET_KEYS = ("name", "kind", "description", "system", "templates", "labels", "label_words", "schema", "rubric",
             "max_new_tokens", "shots", "source", "parameters", "items", "pool")
_KIND_KEYS = {"labels": "label", "label_words": "label", "schema": "json", "rubric": "free"}
_ITEM_KEYS = ("id", "reference")
_SHOT_KEYS = ("answer", "reasoning")
_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl")


@dataclass(frozen=True)
class Item:
    id: str
    variables: dict[str, str]  # values of the templates' variables, e.g. {"review": "..."}
    reference: str | None = None  # gold answer: a label name, a number, a JSON object as text; None for "free"


@dataclass(frozen=True)
class Shot:
    """One worked example of a few-shot pool."""

    variables: dict[str, str]
    answer: str  # label name / number / JSON text / free text
    reasoning: str | None = None  # a worked chain of thought (used with chain-of-thought prompts)


@dataclass
class PromptSet:
    name: str
    kind: Kind
    description: str
    system: str | None  # the system prompt
    templates: dict[str, str]  # template name -> user-message template with {variables}; the first is the default
    items: list[Item]
    pool: list[Shot]  # few-shot examples (disjoint from items)
    labels: list[str] = field(default_factory=list)  # kind "label": the label names, in order
    label_words: dict[str, str] = field(default_factory=dict)  # kind "label": label name -> the word the model answers
    schema: dict | None = None  # kind "json": a JSON Schema the answer must satisfy
    rubric: list[str] = field(default_factory=list)  # kind "free": criteria a reader scores 1-5
    max_new_tokens: int = 32
    shots: int = 0  # how many few-shot examples the set asks for by default


def builtin_prompt_sets() -> list[str]:
    """The names of the built-in prompt sets, sorted."""
    return sorted(path.stem for path in SETS_DIR.glob("*.yaml"))


def load_prompt_set(path_or_name: str | Path, parameters: Mapping[str, Any] | None = None) -> PromptSet:
    """The prompt set of a YAML or JSONL file, or the built-in set of that name; validated (see the module docstring).

    ``parameters`` override those of a set made by a generator, e.g. ``{"split": "dev", "items": 50}`` for the
    built-in ``sentiment`` set.
    """
    path = _locate(path_or_name)
    text = decode_text(path.read_bytes(), source=str(path))
    raw = _read_jsonl(path, text) if path.suffix.lower() == ".jsonl" else _read_yaml(path, text)
    return prompt_set_from_dict(raw, source=str(path), parameters=parameters)


def prompt_set_from_dict(raw: Any, source: str = "the prompt set",
                         parameters: Mapping[str, Any] | None = None) -> PromptSet:
    """A validated :class:`PromptSet` from a mapping of the file format; ``source`` names it in error messages."""
    if not isinstance(raw, dict):
        raise InputError(f"{source} is not a mapping of keys (name, kind, templates, items, ...)",
                         "write one key per line, e.g. `name: my-set`")
    _refuse_unknown(raw, _SET_KEYS, source)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise InputError(f"{source}: kind {kind!r} is not one of {', '.join(KINDS)}",
                         "label: pick one label; number: a number answer; json: a JSON object; free: free text")
    for key, its_kind in _KIND_KEYS.items():
        if key in raw and kind != its_kind:
            raise InputError(f"{source}: '{key}' is for kind {its_kind}, and this set's kind is {kind}",
                             f"remove '{key}', or set `kind: {its_kind}`")
    templates = _templates(raw.get("templates"), source)
    labels = _labels(raw, source) if kind == "label" else []
    items, pool, generated_schema = _items_and_pool(raw, source, parameters)
    ps = PromptSet(
        name=_text(raw.get("name"), f"{source}: name"), kind=kind,
        description=_text(raw.get("description", ""), f"{source}: description"),
        system=None if raw.get("system") is None else _text(raw["system"], f"{source}: system"),
        templates=templates, items=items, pool=pool,
        labels=labels, label_words=_label_words(raw.get("label_words"), labels, source) if labels else {},
        schema=_schema(raw.get("schema", generated_schema), source) if kind == "json" else None,
        rubric=[_text(c, f"{source}: rubric") for c in _list(raw.get("rubric", []), f"{source}: rubric")],
        max_new_tokens=_count(raw.get("max_new_tokens", 32), f"{source}: max_new_tokens", minimum=1),
        shots=_count(raw.get("shots", 0), f"{source}: shots", minimum=0),
    )
    _check(ps, source)
    return ps


# ---- finding and reading the file --------------------------------------------------------------------------------

def _locate(path_or_name: str | Path) -> Path:
    path = Path(path_or_name)
    builtins = builtin_prompt_sets()
    if isinstance(path_or_name, str) and path_or_name in builtins and not path.exists():
        return SETS_DIR / f"{path_or_name}.yaml"
    if path.suffix.lower() not in _SUFFIXES and len(path.parts) == 1 and not path.exists():
        raise UnknownNameError(f"no built-in prompt set {str(path_or_name)!r}{_did_you_mean(str(path), builtins)}",
                               f"choose one of {', '.join(builtins)}, or give the path of a .yaml or .jsonl file")
    if not path.is_file():
        raise InputError(f"{path}: no such file", f"check the path, or use a built-in set: {', '.join(builtins)}")
    if path.suffix.lower() not in _SUFFIXES:
        raise InputError(f"{path}: cannot tell the format from the name ending {path.suffix!r}",
                         "name a prompt set .yaml (or .yml, .json) or .jsonl")
    return path


def _read_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(f"{path} is not valid YAML ({where}{problem})",
                         "check the indentation and quoting there; quote text holding ': ' or starting with '{'"
                         ) from None


def _read_jsonl(path: Path, text: str) -> dict[str, Any]:
    header: dict[str, Any] | None = None
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path} line {number} is not JSON ({err.msg})",
                             "write one JSON object per line") from None
        if header is None:
            if not isinstance(record, dict) or set(record) != {"prompt_set"}:
                raise InputError(f"{path} line {number} is not the header {{\"prompt_set\": {{...}}}}",
                                 "start the file with one line holding the set's keys (name, kind, templates, ...)")
            header = record["prompt_set"]
            if isinstance(header, dict) and "items" in header:
                raise InputError(f"{path}: the header line holds items",
                                 "write each item on its own line after the header")
        else:
            items.append(record)
    if not isinstance(header, dict):
        raise InputError(f"{path} has no header line {{\"prompt_set\": {{...}}}}",
                         "start the file with one line holding the set's keys (name, kind, templates, ...)")
    if items or "source" not in header:
        header = {**header, "items": items}
    return header


# ---- the parts of a set ------------------------------------------------------------------------------------------

def _did_you_mean(word: str, valid: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _refuse_unknown(mapping: Mapping[str, Any], valid: tuple[str, ...] | list[str], where: str) -> None:
    for key in mapping:
        if key not in valid:
            raise InputError(f"{where}: unknown key '{key}'{_did_you_mean(str(key), valid)}",
                             f"the keys are: {', '.join(valid)}")


def _text(value: Any, what: str) -> str:
    """A scalar as text: YAML numbers become their digits; booleans, lists and mappings are refused."""
    if isinstance(value, bool):
        raise InputError(f"{what} is {str(value).lower()}, a boolean", "YAML reads yes/no/true/false as booleans: "
                         "quote the word")
    if isinstance(value, str | int | float):
        return str(value)
    raise InputError(f"{what} is {type(value).__name__ if value is not None else 'missing'}, not text",
                     "give a single line or block of text")


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"{what} is not a list", "write a YAML list, e.g. [a, b] or one '- a' per line")
    return value


def _count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{what} is {value!r}", f"give a whole number of at least {minimum}")
    return value


def template_variables(name: str, template: str) -> list[str]:
    """The variable names a template uses, in order of first use; raises InputError for a malformed template."""
    try:
        fields = [field_name for _, field_name, _, _ in string.Formatter().parse(template) if field_name is not None]
    except ValueError as err:
        raise InputError(f"template '{name}' is malformed ({err})",
                         "write {variable} for a value and '{{' / '}}' for literal braces") from None
    for field_name in fields:
        if not field_name.isidentifier():
            raise InputError(f"template '{name}' has the field {{{field_name}}}, which is not a variable name",
                             "a field is {name} with letters, digits and '_'; write '{{' / '}}' for literal braces")
    return list(dict.fromkeys(fields))


def _templates(value: Any, source: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise InputError(f"{source} has no templates", "add `templates:` with at least one `name: \"... {variable}\"`")
    templates = {str(name): _text(text, f"{source}: template '{name}'") for name, text in value.items()}
    for name, text in templates.items():
        template_variables(name, text)
    return templates


def _labels(raw: Mapping[str, Any], source: str) -> list[str]:
    labels = [_text(label, f"{source}: a label") for label in _list(raw.get("labels"), f"{source}: labels")]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise InputError(f"{source}: labels {labels} are not two or more distinct names",
                         "list each label once, e.g. `labels: [great, other]`")
    return labels


def _label_words(value: Any, labels: list[str], source: str) -> dict[str, str]:
    if value is None:
        return {label: label for label in labels}
    if not isinstance(value, dict):
        raise InputError(f"{source}: label_words is not a mapping", "write label: word, e.g. {great: positive}")
    _refuse_unknown(value, labels, f"{source}: label_words")
    words = {label: _text(value.get(label, label), f"{source}: label word of {label!r}") for label in labels}
    if len({normalise_answer(word) for word in words.values()}) != len(words):
        raise InputError(f"{source}: label_words {words} give two labels the same word", "give each label its own word")
    return words


def _schema(value: Any, source: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{source} has no JSON schema", "kind json needs `schema:`, a JSON Schema of the answer")
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.SchemaError as err:
        raise InputError(f"{source}: the schema is not a valid JSON Schema ({err.message})",
                         "see https://json-schema.org/learn for the format") from None
    return value


def _answer_text(value: Any, what: str) -> str:
    """A reference or answer as text; a JSON object written as a YAML mapping becomes its JSON text."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else _text(value, what)


def _items_and_pool(raw: Mapping[str, Any], source: str,
                    parameters: Mapping[str, Any] | None) -> tuple[list[Item], list[Shot], dict | None]:
    if "source" in raw:
        if "items" in raw or "pool" in raw:
            raise InputError(f"{source} has both a source and items or a pool",
                             "give either `source:` (generated items) or `items:` and `pool:`")
        generated = _generate(raw["source"], raw.get("parameters") or {}, parameters or {}, source)
        return generated.items, generated.pool, generated.schema
    if "parameters" in raw or parameters:
        raise InputError(f"{source}: parameters are given but the set has no source",
                         "parameters are for sets whose items a generator makes (`source:`)")
    items = [_item(record, position, source)
             for position, record in enumerate(_list(raw.get("items"), f"{source}: items"), 1)]
    pool = [_shot(record, position, source)
            for position, record in enumerate(_list(raw.get("pool", []), f"{source}: pool"), 1)]
    return items, pool, None


def _generate(name: Any, defaults: Any, overrides: Mapping[str, Any], source: str) -> Any:
    from zero2hero.prompting.tasks import GENERATORS  # the generators import this module's Item and Shot

    if name not in GENERATORS:
        raise UnknownNameError(f"{source}: no generator {name!r}{_did_you_mean(str(name), list(GENERATORS))}",
                               f"choose one of {', '.join(GENERATORS)}")
    if not isinstance(defaults, dict):
        raise InputError(f"{source}: parameters is not a mapping", "write parameter: value, e.g. {items: 100}")
    generator = GENERATORS[name]
    arguments = {**defaults, **overrides}
    _refuse_unknown(arguments, list(inspect.signature(generator).parameters), f"{source}: parameters of {name}")
    return generator(**arguments)


def _item(record: Any, position: int, source: str) -> Item:
    if not isinstance(record, dict):
        raise InputError(f"{source}: item {position} is not a mapping", "write each item as `- {id: ..., ...}`")
    item_id = _text(record.get("id", position), f"{source}: the id of item {position}")
    where = f"{source}: item '{item_id}'"
    reference = record.get("reference")
    variables = {str(k): _text(v, f"{where}: {k}") for k, v in record.items() if k not in _ITEM_KEYS}
    return Item(item_id, variables, None if reference is None else _answer_text(reference, f"{where}: reference"))


def _shot(record: Any, position: int, source: str) -> Shot:
    where = f"{source}: pool shot {position}"
    if not isinstance(record, dict):
        raise InputError(f"{where} is not a mapping", "write each shot as `- {variable: ..., answer: ...}`")
    if record.get("answer") is None:
        raise InputError(f"{where} has no answer", "give each worked example its `answer:`")
    variables = {str(k): _text(v, f"{where}: {k}") for k, v in record.items() if k not in _SHOT_KEYS}
    reasoning = record.get("reasoning")
    return Shot(variables, _answer_text(record["answer"], f"{where}: answer"),
                None if reasoning is None else _text(reasoning, f"{where}: reasoning"))


# ---- checks across the parts -------------------------------------------------------------------------------------

def _check(ps: PromptSet, source: str) -> None:
    if not ps.items:
        raise InputError(f"{source} has no items", "add at least one item under `items:`")
    used = {name: template_variables(name, text) for name, text in ps.templates.items()}
    all_used = list(dict.fromkeys(v for names in used.values() for v in names))
    seen: set[str] = set()
    for item in ps.items:
        where = f"item '{item.id}'"
        if item.id in seen:
            raise InputError(f"{source}: two items have the id '{item.id}'", "give every item its own id")
        seen.add(item.id)
        _check_variables(item.variables, used, all_used + list(_ITEM_KEYS), where, source)
        if ps.kind != "free" and item.reference is None:
            raise InputError(f"{source}: {where} has no reference",
                             f"kind {ps.kind} scores answers against a `reference:`; add one")
        if item.reference is not None:
            _check_answer(ps, item.reference, f"{where}: reference", source)
    for position, shot in enumerate(ps.pool, 1):
        where = f"pool shot {position}"
        _check_variables(shot.variables, used, all_used + list(_SHOT_KEYS), where, source)
        _check_answer(ps, shot.answer, f"{where}: answer", source)
    if ps.shots > len(ps.pool):
        raise InputError(f"{source} asks for {ps.shots} shots but its pool holds {len(ps.pool)}",
                         "add worked examples under `pool:`, or lower `shots:`")
    item_values = {tuple(sorted(item.variables.items())): item.id for item in ps.items}
    for position, shot in enumerate(ps.pool, 1):
        repeated = item_values.get(tuple(sorted(shot.variables.items())))
        if repeated is not None:
            raise InputError(f"{source}: pool shot {position} repeats item '{repeated}'",
                             "a few-shot example must not be an item it is scored on: drop one of them")


def _check_variables(variables: dict[str, str], used: dict[str, list[str]], valid: list[str], where: str,
                     source: str) -> None:
    for name, names in used.items():
        for variable in names:
            if variable not in variables:
                raise InputError(f"{source}: template '{name}' uses {{{variable}}} but {where} has no '{variable}'",
                                 f"add `{variable}: ...` to {where}, or remove {{{variable}}} from the template")
    for key in variables:
        if key not in valid:
            raise InputError(f"{source}: {where} has a field '{key}' that no template uses"
                             f"{_did_you_mean(key, valid)}", "fix its name, or remove it")


def _check_answer(ps: PromptSet, answer: str, where: str, source: str) -> None:
    if ps.kind == "label" and answer not in ps.labels:
        raise InputError(f"{source}: {where} {answer!r} is not one of the labels {', '.join(ps.labels)}",
                         "use a label name (not its label word), or add the label to `labels:`")
    if ps.kind == "number" and extract_number(answer) != normalise_answer(answer):
        raise InputError(f"{source}: {where} {answer!r} is not a number", "write the number alone, e.g. 42 or 3.5")
    if ps.kind == "json":
        try:
            value = json.loads(answer)
        except json.JSONDecodeError as err:
            raise InputError(f"{source}: {where} is not JSON ({err.msg})",
                             "write the JSON object, or a YAML mapping") from None
        error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(ps.schema)(ps.schema)
                                                 .iter_errors(value))
        if error is not None:
            raise InputError(f"{source}: {where} does not meet the schema ({error.message})",
                             "fix the reference, or the schema")
