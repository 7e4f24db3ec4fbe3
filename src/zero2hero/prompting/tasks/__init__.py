"""Built-in tasks: generators of prompt-set items and few-shot pools, named by a set's ``source:``.

- ``arithmetic``: word problems at three levels of difficulty (:mod:`.arithmetic`);
- ``fine_foods``: sentiment of chapter 5's fine-food reviews (:mod:`.sentiment`);
- ``orders``: a purchase sentence to a JSON object (:mod:`.json_format`).

Each generator takes keyword parameters (the set's ``parameters:``) and returns a :class:`.generated.GeneratedSet`.
"""

from __future__ import annotations

from collections.abc import Callable

from zero2hero.prompting.tasks import arithmetic, json_format, sentiment
from zero2hero.prompting.tasks.generated import GeneratedSet

GENERATORS: dict[str, Callable[..., GeneratedSet]] = {
    "arithmetic": arithmetic.generate_set,
    "fine_foods": sentiment.generate_set,
    "orders": json_format.generate_set,
}
