"""A format-following task: a sentence about a purchase in, a JSON object with fixed keys out.

"Maria bought 3 jars of honey for 12 dollars." -> ``{"customer": "Maria", "item": "jars of honey", "quantity": 3,
"total_dollars": 12}``. The answer must meet :data:`ORDER_SCHEMA` (all four keys, nothing else, the right types) and
each field must equal the reference; ``item`` is the goods as the sentence names them after the quantity.

Provenance: made by this module, deterministically from a seed (``random.Random``), from 16 first names, 16 goods
with a unit price each and 6 sentence patterns; no outside data, so no licence applies beyond zero2hero's own (MIT).
The built-in ``json-orders`` set holds 100 items and 16 pool examples (seed 0).
"""

from __future__ import annotations

import json
import random

from zero2hero.errors import InputError
from zero2hero.prompting.promptset import Item, Shot
from zero2hero.prompting.tasks.generated import GeneratedSet
from zero2hero.prompting.tasks.people import PEOPLE

ORDER_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "minLength": 1},
        "item": {"type": "string", "minLength": 1},
        "quantity": {"type": "integer", "minimum": 1},
        "total_dollars": {"type": "number", "minimum": 0},
    },
    "required": ["customer", "item", "quantity", "total_dollars"],
    "additionalProperties": False,
}

_GOODS = (  # (the goods as counted, the price of one in dollars)
    ("jars of honey", 4), ("bags of rice", 3), ("bottles of olive oil", 9), ("boxes of tea", 5),
    ("loaves of bread", 2), ("packs of coffee", 7), ("cans of tomatoes", 1), ("bars of chocolate", 2),
    ("cartons of milk", 1), ("wheels of cheese", 15), ("bunches of bananas", 3), ("sacks of flour", 6),
    ("tins of sardines", 2), ("jars of jam", 4), ("boxes of cereal", 5), ("bottles of apple juice", 3),
)
_SENTENCES = (
    "{customer} bought {quantity} {item} for {total} dollars.",
    "{customer} paid {total} dollars for {quantity} {item}.",
    "For {total} dollars, {customer} got {quantity} {item} at the market.",
    "Yesterday {customer} ordered {quantity} {item}; the bill came to {total} dollars.",
    "{customer} picked up {quantity} {item} and spent {total} dollars.",
    "At the corner shop, {customer} bought {quantity} {item}, {total} dollars in all.",
)


def order(rng: random.Random) -> tuple[str, dict]:
    """One sentence and the JSON object it describes."""
    customer = rng.choice(PEOPLE).name
    item, price = rng.choice(_GOODS)
    quantity = rng.randint(2, 9)
    total = quantity * price
    sentence = rng.choice(_SENTENCES).format(customer=customer, quantity=quantity, item=item, total=total)
    return sentence, {"customer": customer, "item": item, "quantity": quantity, "total_dollars": total}


def generate_set(items: int = 100, pool: int = 16, seed: int = 0) -> GeneratedSet:
    """``items`` distinct sentences (variable ``sentence``; ids ``order-<n>``) with their JSON object as reference,
    and ``pool`` other ones as worked examples; the schema is :data:`ORDER_SCHEMA`."""
    for what, value, minimum in (("items", items, 1), ("pool", pool, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InputError(f"{what} is {value!r}", f"give a whole number of at least {minimum}")
    rng = random.Random(f"json-orders-{seed}")
    orders: dict[str, dict] = {}
    for _ in range((items + pool) * 20):
        sentence, obj = order(rng)
        orders.setdefault(sentence, obj)
        if len(orders) == items + pool:
            break
    else:
        raise InputError(f"only {len(orders)} distinct orders came out of {(items + pool) * 20} tries",
                         "ask for fewer items")
    pairs = list(orders.items())
    return GeneratedSet(
        items=[Item(f"order-{n:03d}", {"sentence": s}, json.dumps(o)) for n, (s, o) in enumerate(pairs[:items], 1)],
        pool=[Shot({"sentence": s}, json.dumps(o)) for s, o in pairs[items:]],
        schema=ORDER_SCHEMA,
    )
