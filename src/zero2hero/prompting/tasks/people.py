"""First names for generated stories, each with the pronouns a sentence about them uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    subject: str  # "she" / "he"
    object: str  # "her" / "him"


PEOPLE = tuple(Person(name, *pronouns) for name, pronouns in (
    ("Maria", ("she", "her")), ("Tom", ("he", "him")), ("Aisha", ("she", "her")), ("Kenji", ("he", "him")),
    ("Lena", ("she", "her")), ("Omar", ("he", "him")), ("Sofia", ("she", "her")), ("Lucas", ("he", "him")),
    ("Priya", ("she", "her")), ("Diego", ("he", "him")), ("Mei", ("she", "her")), ("Samuel", ("he", "him")),
    ("Amara", ("she", "her")), ("Jonas", ("he", "him")), ("Chloe", ("she", "her")), ("Ravi", ("he", "him")),
))
