"""Five preference pairs, one or two per rule and task, shared by the tests that compare our losses with TRL's."""

from __future__ import annotations

from zero2hero.alignment.preferences import PreferencePair

PAIRS = [
    PreferencePair("What is 3 + 4?", "7", "8", "correct"),
    PreferencePair("Spell the word 'garden' backwards.", "nedrag",
                   "Sure! Here is the answer: nedrag. I hope this helps, and let me know if you have any other "
                   "questions.", "concise"),
    PreferencePair("Convert to JSON: city: lemon", '{"city": "lemon"}', "city = lemon", "format"),
    PreferencePair("Is this review positive (5 stars) or negative (fewer stars)?\n\nThe tea arrived stale and the "
                   "box was crushed.", "negative", "positive", "correct"),
    PreferencePair("Join these words with dashes, no spaces: tiger violin winter", "tiger-violin-winter",
                   "tiger, violin, winter", "format"),
]
