"""An instruction set with checkable answers, generated from templates, and the check itself.

No instruction data set ships offline, so zero2hero builds its own. :func:`build_instructions` fills templates
(each one a different phrasing of a request, often with a different instruction about the answer's format) with
random values drawn from a seeded generator:

* ``arithmetic`` (5 templates) — add or subtract two numbers from 1 to 20 ("What is 17 + 5?"); the answer is the
  integer result;
* ``words`` (6 templates) — upper-case a word, spell it backwards, or give its first letter, two phrasings each,
  over a fixed list of common English words;
* ``format`` (5 templates) — turn three words into a comma-separated or dash-joined list, or a ``key: value`` line
  into a one-key JSON object;
* ``sentiment`` (4 templates) — say whether a review from chapter 5's Amazon fine-food reviews
  (:func:`zero2hero.finetuning.data.load_fine_foods`, its training split) is ``positive`` or ``negative``. That data
  set labels a review ``great`` (5 stars) or ``other`` (1 to 4 stars): here ``great`` is ``positive`` and ``other``
  is ``negative``, so a mild 4-star review counts as negative, and the templates say so ("5 stars" / "fewer").
  Reviews are cut to their first 40 words (240 characters at most), HTML tags removed; a review left with more
  than 8 digits or written mostly in capitals is passed over (it would take too many tokens to fit 128 with its
  template); half of each template's reviews are positive.

Size: ``per_template`` items per template, 20 templates, so the default call (``per_template=30``) makes 600
instructions. The same ``seed`` gives the same list. :func:`split_by_template` holds whole templates out for the
test split, so the test measures phrasings the model never trained on, not memorised prompts.

Licence: the generated instructions are zero2hero's, under its MIT licence; the sentiment items quote fine-food
reviews, which the R package ``modeldata`` distributes under the MIT licence (chapter 5's ``card.json`` records the
source: Stanford SNAP's web-FineFoods).

:func:`is_correct` is the verifiable check every later step of chapter 10 relies on (accuracy, preference rules,
the reward of reinforcement learning); its rules are in its docstring.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text

TASKS: tuple[str, ...] = ("arithmetic", "words", "format", "sentiment")

REVIEW_WORDS = 40  # a sentiment item quotes at most this many words of its review
REVIEW_CHARACTERS = 240  # ... and at most this many characters of them
MAX_REVIEW_DIGITS = 8  # a cut review with more digits than this is not used
SENTIMENT_ANSWERS = {"great": "positive", "other": "negative"}  # chapter 5's label name -> the answer

# Common words, three to seven letters, all lower case: the raw material of the word and format tasks.
WORDS: tuple[str, ...] = (
    "apple", "river", "garden", "orange", "window", "planet", "silver", "pencil", "bread", "cloud", "forest",
    "honey", "island", "jacket", "kitten", "lemon", "market", "number", "ocean", "paper", "rabbit", "summer",
    "tiger", "violin", "winter", "yellow", "bottle", "candle", "dragon", "engine", "flower", "guitar", "hammer",
    "ladder", "mirror", "needle", "pepper", "rocket", "spoon", "tomato", "cat", "dog", "sun", "moon", "star", "tree",
    "house", "chair", "table", "music", "green", "water", "stone", "horse", "light", "night", "plant", "sugar",
)
KEYS: tuple[str, ...] = ("name", "city", "colour", "fruit", "animal", "country", "food", "sport")


@dataclass(frozen=True)
class Instruction:
    """One request and the answer that :func:`is_correct` checks a response against."""

    task: str  # one of TASKS
    template: str  # e.g. "arithmetic/2": the phrasing; the split holds whole templates out
    prompt: str  # the user's message
    answer: str  # the checkable answer, e.g. "42", "olleh", "a, b, c", "positive"


# ---- the templates: (phrasing, how to compute the answer) per task -------------------------------------------------
# Each generator below draws the values one item needs from `rng` and returns (prompt, answer) for template `index`.

_ARITHMETIC = (
    "What is {a} {sign} {b}?",
    "Compute {a} {word} {b}. Reply with the number only.",
    "Calculate: {a} {sign} {b} =",
    "{a} {sign} {b} equals what? Give just the result.",
    "Tom has {a} apples and {story} {b}. How many apples does he have now? Answer with a number.",
)


def _arithmetic(rng: random.Random, index: int) -> tuple[str, str]:
    # 1. two small numbers (a 135M-parameter model can learn sums this size) and an operation
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    add = rng.random() < 0.5
    # 2. a subtraction never goes below zero: put the larger number first
    if not add and b > a:
        a, b = b, a
    # 3. the phrasing: a symbol, a word or a little story, as the template asks
    prompt = _ARITHMETIC[index].format(a=a, b=b, sign="+" if add else "-", word="plus" if add else "minus",
                                       story="buys" if add else "gives away")
    return prompt, str(a + b if add else a - b)


_WORDS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("Write the word '{w}' in capital letters.", str.upper),
    ("Convert {w} to upper case. Reply with the word only.", str.upper),
    ("Spell the word '{w}' backwards.", lambda word: word[::-1]),
    ('Reverse the letters of "{w}". Give only the reversed word.', lambda word: word[::-1]),
    ("What is the first letter of the word '{w}'?", lambda word: word[0]),
    ('Which letter does "{w}" start with? Answer with one letter.', lambda word: word[0]),
)


def _words(rng: random.Random, index: int) -> tuple[str, str]:
    # one word, put into the phrasing; the answer is that template's operation applied to it
    word = rng.choice(WORDS)
    phrasing, operation = _WORDS[index]
    return phrasing.format(w=word), operation(word)


_FORMAT = (
    "Turn this into a comma-separated list: {words}",
    "Write these words separated by commas: {words}",
    "Join these words with dashes, no spaces: {words}",
    "Convert to JSON: {key}: {value}",
    'Rewrite "{key}: {value}" as a JSON object. Reply with the JSON only.',
)


def _format(rng: random.Random, index: int) -> tuple[str, str]:
    # 1. three different words, in the order the prompt lists them
    words = rng.sample(WORDS, 3)
    if index < 2:  # 2a. a comma-separated list keeps the order
        return _FORMAT[index].format(words=" ".join(words)), ", ".join(words)
    if index == 2:  # 2b. a dash-joined list
        return _FORMAT[index].format(words=" ".join(words)), "-".join(words)
    # 2c. a one-key JSON object, written the way json.dumps writes it
    key, value = rng.choice(KEYS), words[0]
    return _FORMAT[index].format(key=key, value=value), json.dumps({key: value})


_SENTIMENT = (
    "Is this review positive (5 stars) or negative (fewer stars)?\n\n{review}",
    "Review: {review}\n\nDid the reviewer give 5 stars (positive) or fewer (negative)? Answer with one word.",
    "Classify the sentiment of this product review as positive or negative. Positive means the reviewer "
    "gave it 5 stars.\n{review}",
    "{review}\n\nDid the writer of this review love the product? Reply positive or negative.",
)


def _short_review(text: str) -> str:
    # 1. drop the HTML tags some reviews hold (line breaks, links)
    words = re.sub(r"<[^>]*>", " ", text).split()
    # 2. keep the first REVIEW_WORDS words, and at most REVIEW_CHARACTERS characters of them (a review full of links
    #    or odd spellings would otherwise take many more tokens than 40 ordinary words)
    kept: list[str] = []
    for word in words[:REVIEW_WORDS]:
        if len(" ".join([*kept, word])) > REVIEW_CHARACTERS:
            break
        kept.append(word)
    return " ".join(kept) + (" ..." if len(kept) < len(words) else "")


def _fits(review: str) -> bool:
    # a digit is a token of its own, and so is nearly every letter of a word in capitals: a cut review with many
    # digits (prices, order numbers) or mostly capitals ("shouting") would not fit 128 tokens with its template
    letters = [character for character in review if character.isalpha()]
    capitals = sum(character.isupper() for character in letters)
    return sum(character.isdigit() for character in review) <= MAX_REVIEW_DIGITS and capitals <= 0.3 * len(letters)


def _sentiment_items(per_template: int, rng: random.Random) -> list[Instruction]:
    from zero2hero.finetuning.data import load_fine_foods

    data = load_fine_foods()
    # 1. the training reviews of each label, shuffled by the seed
    by_answer: dict[str, list[str]] = {answer: [] for answer in SENTIMENT_ANSWERS.values()}
    for example in data.train:
        by_answer[SENTIMENT_ANSWERS[data.label_names[example.label]]].append(example.text)
    for texts in by_answer.values():
        rng.shuffle(texts)
    # 2. each template gets its own reviews (no review appears twice), alternating positive and negative; a review
    #    that would take too many tokens is passed over
    items = []
    for index, phrasing in enumerate(_SENTIMENT):
        for k in range(per_template):
            answer = ("positive", "negative")[k % 2]
            review = _short_review(by_answer[answer].pop())
            while not _fits(review):
                review = _short_review(by_answer[answer].pop())
            items.append(Instruction("sentiment", f"sentiment/{index}", phrasing.format(review=review), answer))
    return items


_GENERATORS: dict[str, tuple[Callable[[random.Random, int], tuple[str, str]], int]] = {
    "arithmetic": (_arithmetic, len(_ARITHMETIC)),
    "words": (_words, len(_WORDS)),
    "format": (_format, len(_FORMAT)),
}


def build_instructions(per_template: int = 30, seed: int = 0) -> list[Instruction]:
    """``per_template`` instructions for each template of each task in :data:`TASKS`, the same for the same seed.

    The sentiment task reads chapter 5's fine-food reviews (an :class:`AssetMissingError` names the install command
    when they are missing). Items are ordered by task, then template.
    """
    if not isinstance(per_template, int) or isinstance(per_template, bool) or not 1 <= per_template <= 500:
        raise InputError(f"per_template must be a whole number from 1 to 500, got {per_template!r}",
                         "pass e.g. per_template=30")
    rng = random.Random(seed)  # one private generator: the global random state is neither used nor changed
    items = []
    for task, (generate, n_templates) in _GENERATORS.items():
        for index in range(n_templates):
            for _ in range(per_template):
                prompt, answer = generate(rng, index)
                items.append(Instruction(task, f"{task}/{index}", prompt, answer))
    return items + _sentiment_items(per_template, rng)


def split_by_template(items: list[Instruction], held_out_per_task: int = 1, seed: int = 0,
                      ) -> tuple[list[Instruction], list[Instruction]]:
    """(train, test): for each task, ``held_out_per_task`` of its templates, chosen by ``seed``, go to the test split.

    Every item of a held-out template is in the test split and none in train, so the test asks for each task in
    phrasings the model never saw. Each task keeps at least one template for training. Items keep their order.
    """
    templates: dict[str, list[str]] = {}
    for item in items:
        if item.template not in templates.setdefault(item.task, []):
            templates[item.task].append(item.template)
    if held_out_per_task < 1 or any(held_out_per_task >= len(names) for names in templates.values()):
        fewest = min((len(names) for names in templates.values()), default=0)
        raise InputError(f"cannot hold out {held_out_per_task} template(s) per task: a task has {fewest} template(s) "
                         "and must keep one for training", f"use held_out_per_task from 1 to {max(fewest - 1, 1)}")
    rng = random.Random(seed)
    held_out = {name for task in sorted(templates) for name in rng.sample(sorted(templates[task]), held_out_per_task)}
    train = [item for item in items if item.template not in held_out]
    test = [item for item in items if item.template in held_out]
    return train, test


# ---- the check ------------------------------------------------------------------------------------------------------

_FIRST_INTEGER = re.compile(r"-?\d+")


def _normalise(text: str) -> str:
    # surrounding white space, one trailing full stop, and quotes or backticks around the whole response go
    # (a fence of several backticks included)
    text = text.strip()
    text = text.removesuffix(".").strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        text = text[1:-1].strip()
    return text


def is_correct(item: Instruction, response: str) -> bool:
    """Whether ``response`` answers ``item``: the verifiable check.

    The rules, by task:

    * ``arithmetic`` — the first integer in the response (an optional minus sign and digits) equals the answer:
      "42", "The answer is 42." pass; "17 + 25 = 42" fails (its first integer is 17), so does "forty-two".
    * every other task — the response is first normalised: white space around it, one trailing full stop, and
      quotes or backticks around the whole response are removed. Then
      ``words`` — it equals the answer exactly, letter case ignored unless the answer holds capitals (so the
      upper-case templates need upper case: "APPLE", not "apple");
      ``format`` — it equals the answer once all white space is removed from both, letter case ignored ("a,b,c"
      and "a, b, c" pass; "Here is the list: a, b, c" and "a b c" fail: padding and the wrong format count as wrong);
      ``sentiment`` — it is "positive" or "negative" as the answer says, letter case ignored ("Positive." passes,
      "The review is positive" fails).
    """
    if item.task == "arithmetic":
        found = _FIRST_INTEGER.search(response)
        return found is not None and int(found.group()) == int(item.answer)
    text = _normalise(response)
    if item.task == "format":
        return "".join(text.split()).casefold() == "".join(item.answer.split()).casefold()
    if item.answer != item.answer.lower():  # the answer holds capitals: case matters
        return text == item.answer
    return text.casefold() == item.answer.casefold()


# ---- JSON lines -------------------------------------------------------------------------------------------------

_FIELDS = ("task", "template", "prompt", "answer")


def save_instructions(path: Path, items: Iterable[Instruction]) -> None:
    """Write ``items`` to ``path`` as JSON lines (one ``{"task", "template", "prompt", "answer"}`` object each)."""
    atomic_write_text(Path(path), "".join(json.dumps(asdict(item), ensure_ascii=False) + "\n" for item in items))


def load_instructions(path: Path) -> list[Instruction]:
    """The instructions of a JSON-lines file written by :func:`save_instructions` (blank lines are skipped).

    A malformed line raises :class:`InputError` naming ``file:line`` and the problem.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the instruction file {path}: {err}",
                         "pass a JSON-lines file written by save_instructions") from None
    items = [_parse_line(line, f"{path}:{number}") for number, line in enumerate(lines, start=1) if line.strip()]
    if not items:
        raise InputError(f"the instruction file {path} holds no instructions", "write some with save_instructions")
    return items


def _parse_line(line: str, where: str) -> Instruction:
    hint = 'each line must be a JSON object {"task", "template", "prompt", "answer"} of non-empty strings'
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}: not valid JSON ({err.msg})", hint) from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: a JSON {type(record).__name__}, not an object", hint)
    for field in _FIELDS:
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise InputError(f"{where}: the field {field!r} is missing, empty or not a string", hint)
    if record["task"] not in TASKS:
        raise InputError(f"{where}: unknown task {record['task']!r}", f"use one of {', '.join(TASKS)}")
    return Instruction(*(record[field] for field in _FIELDS))


def tasks_of(items: Sequence[Instruction]) -> list[str]:
    """The tasks present in ``items``, in the order of :data:`TASKS`."""
    present = {item.task for item in items}
    return [task for task in TASKS if task in present]
