"""Arithmetic word problems at three levels of difficulty, generated from short story templates.

- level 1: one step, + or - ("Maria has 7 apples. She buys 5 more apples at the market. How many ...?");
- level 2: two steps of + or -;
- level 3: three steps with a x or a / whose results are whole numbers ("... buys 4 boxes with 6 in each ... shares
  them equally among 3 friends ...").

Each problem keeps its arithmetic ``expression`` (its numbers in the order the story gives them), its ``answer``
(the expression evaluated exactly, always a whole number of at least 0) and a worked step-by-step ``reasoning`` that a
few-shot example shows for chain-of-thought prompts.

Provenance: made by this module, deterministically from a seed (``random.Random`` seeded with the level and the
seed), from 10 kinds of objects, 16 first names and a few sentence patterns per level; no outside data, so no
licence applies beyond zero2hero's own (MIT). The built-in ``arithmetic`` set holds 40 items and 8 pool examples per
level (seed 0).
"""

from __future__ import annotations

import ast
import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from zero2hero.errors import InputError
from zero2hero.prompting.promptset import Item, Shot
from zero2hero.prompting.tasks.generated import GeneratedSet
from zero2hero.prompting.tasks.people import PEOPLE, Person

LEVELS = (1, 2, 3)


@dataclass(frozen=True)
class Problem:
    level: int
    question: str
    expression: str  # e.g. "(4 * 6 - 9) / 3": the numbers in the order the question gives them
    answer: int
    reasoning: str  # the worked steps, one per line, ending with the result


@dataclass(frozen=True)
class _Thing:
    plural: str
    container: str
    containers: str
    gains: tuple[str, ...]  # verb phrases with {n} (and maybe {friend}): the person gets n more
    losses: tuple[str, ...]  # the person has n fewer


_THINGS = (
    _Thing("apples", "basket", "baskets", ("picks {n} more apples from the tree", "buys {n} more apples at the market"),
           ("eats {n} of the apples", "gives {n} apples to {friend}")),
    _Thing("stickers", "pack", "packs", ("gets {n} more stickers from {friend}", "wins {n} stickers in a game"),
           ("puts {n} stickers in a notebook", "gives {n} stickers to {friend}")),
    _Thing("marbles", "bag", "bags", ("wins {n} marbles", "finds {n} more marbles under the sofa"),
           ("loses {n} marbles", "trades {n} marbles with {friend} for a toy car")),
    _Thing("cookies", "tray", "trays", ("bakes {n} more cookies", "gets {n} cookies from {friend}"),
           ("sells {n} cookies", "gives {n} cookies to {friend}")),
    _Thing("books", "box", "boxes", ("buys {n} more books", "gets {n} books from {friend}"),
           ("donates {n} books to the library", "lends {n} books to {friend}")),
    _Thing("coins", "jar", "jars", ("saves {n} more coins", "finds {n} coins in a coat pocket"),
           ("spends {n} coins on a snack", "gives {n} coins to {friend}")),
    _Thing("pencils", "case", "cases", ("buys {n} more pencils", "gets {n} pencils from {friend}"),
           ("lends {n} pencils to {friend}", "loses {n} pencils at school")),
    _Thing("seashells", "bucket", "buckets", ("collects {n} more seashells", "gets {n} seashells from {friend}"),
           ("gives {n} seashells to {friend}", "drops {n} seashells on the way home")),
    _Thing("eggs", "carton", "cartons", ("collects {n} more eggs from the hens", "buys {n} more eggs"),
           ("uses {n} eggs for a cake", "gives {n} eggs to {friend}")),
    _Thing("flowers", "vase", "vases", ("picks {n} more flowers", "gets {n} flowers from {friend}"),
           ("gives {n} flowers to {friend}", "throws away {n} wilted flowers")),
)
_OPENINGS = ("{name} has {a} {things}.", "{name} starts the day with {a} {things}.",
             "There are {a} {things} in {name}'s {container}.")
_QUESTIONS = ("How many {things} does {name} have now?", "How many {things} does {name} have in the end?")
_SHARES = (("Then {subject} shares all the {things} equally among {d} friends.",
            "How many {things} does each friend get?"),
           ("Then {subject} puts all the {things} into {d} equal piles.", "How many {things} are in each pile?"))

_OPERATORS: dict[type, Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expression: str) -> Fraction:
    """The exact value of an expression of whole numbers, ``+ - * /`` and parentheses (Fractions: no rounding)."""
    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        raise InputError(f"{expression!r} is not whole-number arithmetic", "use numbers, + - * / and parentheses")
    return value(ast.parse(expression, mode="eval").body)


class _Story:
    """One problem being written: the sentences, the expression and the worked steps, step by step."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.thing = rng.choice(_THINGS)
        self.person, friend = rng.sample(PEOPLE, 2)
        self.friend = friend.name
        self.sentences: list[str] = []
        self.steps: list[str] = []

    def say(self, pattern: str, **values: object) -> None:
        self.sentences.append(self.fill(pattern, **values))

    def fill(self, pattern: str, **values: object) -> str:
        person: Person = self.person
        text = pattern.format(name=person.name, subject=person.subject, things=self.thing.plural,
                              container=self.thing.container, containers=self.thing.containers,
                              friend=self.friend, **values)
        return text[0].upper() + text[1:]

    def change(self, total: int, then: bool) -> tuple[int, int, str]:
        """A gain or a loss of at least 2 that keeps the total above 0: (n, new total, "+" or "-")."""
        lose = total > 2 and self.rng.random() < 0.5
        n = self.rng.randint(2, total - 1) if lose else self.rng.randint(2, 12)
        phrase = self.rng.choice(self.thing.losses if lose else self.thing.gains)
        self.say(("then {subject} " if then else "{subject} ") + phrase + ".", n=n)
        new_total = total - n if lose else total + n
        how = f"{n} fewer" if lose else f"{n} more"
        self.steps.append(self.fill(f"{{subject}} has {how}: {total} {'-' if lose else '+'} {n} = {new_total}."))
        return n, new_total, "-" if lose else "+"

    def problem(self, level: int, question: str, expression: str, result: int) -> Problem:
        answer = evaluate(expression)
        if answer != result or answer.denominator != 1 or answer < 0:
            raise RuntimeError(f"the generator wrote {expression} = {answer}, but its steps reach {result}")
        return Problem(level, " ".join([*self.sentences, self.fill(question)]), expression, int(answer),
                       "\n".join(self.steps))


def _plus_minus(rng: random.Random, level: int) -> Problem:
    """Levels 1 and 2: a starting amount, then one or two gains or losses."""
    story = _Story(rng)
    a = rng.randint(3, 30)
    story.say(rng.choice(_OPENINGS), a=a)
    story.steps.append(story.fill(f"{{name}} starts with {a} {{things}}."))
    expression, total = str(a), a
    for step in range(level):
        n, total, sign = story.change(total, then=step > 0)
        expression += f" {sign} {n}"
    return story.problem(level, rng.choice(_QUESTIONS), expression, total)


def _boxes_then_share(rng: random.Random) -> Problem:
    """(a * b ± c) / d: boxes of things, a gain or loss, then equal shares."""
    story = _Story(rng)
    a, b, d = rng.randint(2, 9), rng.randint(2, 12), rng.randint(2, 6)
    story.say("{name} buys {a} {containers} of {things} with {b} {things} in each {container}.", a=a, b=b)
    story.steps.append(f"{a} {story.thing.containers} with {b} in each make {a} × {b} = {a * b} {story.thing.plural}.")
    lose = rng.random() < 0.5 and a * b >= d + 2
    # a share that leaves a loss or a gain c of at least 2
    share = max((a * b - 2) // d - rng.randint(0, 2), 1) if lose else (a * b + 1) // d + rng.randint(1, 2)
    c = abs(a * b - share * d)
    phrase = rng.choice(story.thing.losses if lose else story.thing.gains)
    story.say("{subject} " + phrase + ".", n=c)
    total = a * b - c if lose else a * b + c
    sign = "-" if lose else "+"
    story.steps.append(story.fill(f"{{subject}} has {c} {'fewer' if lose else 'more'}: {a * b} {sign} {c} = {total}."))
    share_sentence, question = rng.choice(_SHARES)
    story.say(share_sentence, d=d)
    story.steps.append(f"Split equally {d} ways: {total} ÷ {d} = {total // d}.")
    return story.problem(3, question, f"({a} * {b} {sign} {c}) / {d}", total // d)


def _change_then_boxes(rng: random.Random) -> Problem:
    """a ± c + d * b: a starting amount, a gain or loss, then whole boxes more."""
    story = _Story(rng)
    a = rng.randint(3, 30)
    story.say(rng.choice(_OPENINGS), a=a)
    story.steps.append(story.fill(f"{{name}} starts with {a} {{things}}."))
    c, total, sign = story.change(a, then=False)
    d, b = rng.randint(2, 6), rng.randint(2, 12)
    story.say("Then {subject} gets {d} {containers} with {b} {things} in each.", d=d, b=b)
    story.steps.append(f"{d} {story.thing.containers} with {b} in each hold {d} × {b} = {d * b}; "
                       f"{total} + {d * b} = {total + d * b}.")
    return story.problem(3, rng.choice(_QUESTIONS), f"{a} {sign} {c} + {d} * {b}", total + d * b)


def _more_boxes_then_loss(rng: random.Random) -> Problem:
    """(a + c) * b - n: some boxes, more boxes, things per box, then a loss."""
    story = _Story(rng)
    a, c, b = rng.randint(2, 6), rng.randint(2, 5), rng.randint(2, 12)
    story.say("{name} has {a} {containers} of {things} and gets {c} more {containers}.", a=a, c=c)
    story.say("Each {container} holds {b} {things}.", b=b)
    story.steps.append(f"{a} + {c} = {a + c} {story.thing.containers}, holding {a + c} × {b} = {(a + c) * b} "
                       f"{story.thing.plural}.")
    n, total = _loss(story, (a + c) * b)
    return story.problem(3, rng.choice(_QUESTIONS), f"({a} + {c}) * {b} - {n}", total)


def _loss(story: _Story, total: int) -> tuple[int, int]:
    """A loss of 2 to ``total - 1``: (n, new total)."""
    n = story.rng.randint(2, total - 1)
    story.say("{subject} " + story.rng.choice(story.thing.losses) + ".", n=n)
    story.steps.append(story.fill(f"{{subject}} has {n} fewer: {total} - {n} = {total - n}."))
    return n, total - n


_LEVEL_3 = (_boxes_then_share, _change_then_boxes, _more_boxes_then_loss)


def generate_problems(level: int, count: int, seed: int = 0) -> list[Problem]:
    """``count`` distinct problems of ``level`` (1, 2 or 3), the same for the same seed."""
    if level not in LEVELS:
        raise InputError(f"level {level!r} is not one of {LEVELS}", "1: one step, 2: two steps, 3: three with × or ÷")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"count {count!r} is not a whole number of at least 1", "ask for e.g. 100 problems")
    rng = random.Random(f"arithmetic-{level}-{seed}")
    problems: dict[str, Problem] = {}
    for _ in range(count * 20):
        problem = rng.choice(_LEVEL_3)(rng) if level == 3 else _plus_minus(rng, level)
        problems.setdefault(problem.question, problem)
        if len(problems) == count:
            return list(problems.values())
    raise InputError(f"only {len(problems)} distinct level-{level} problems came out of {count * 20} tries",
                     "ask for fewer problems")


def generate_set(levels: Sequence[int] = LEVELS, items: int = 40, pool: int = 8, seed: int = 0) -> GeneratedSet:
    """``items`` problems per level as items (ids ``L<level>-<n>``) and ``pool`` other ones per level as worked
    examples; the question is the variable ``question``, the answer the reference."""
    for what, value in (("items", items), ("pool", pool)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (what == "items"):
            raise InputError(f"{what} is {value!r}", f"give a whole number of {what} per level")
    generated = GeneratedSet(items=[], pool=[])
    for level in levels:
        problems = generate_problems(level, items + pool, seed)
        generated.items += [Item(f"L{level}-{n:03d}", {"question": p.question}, str(p.answer))
                            for n, p in enumerate(problems[:items], 1)]
        generated.pool += [Shot({"question": p.question}, str(p.answer), p.reasoning) for p in problems[items:]]
    return generated
