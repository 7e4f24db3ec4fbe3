"""Short texts of different kinds, written for zero2hero, to compare tokenizers on (the prose sample
comes from the course corpus's held-out part, so no tokenizer we train has seen it)."""

from __future__ import annotations

import inspect

TEXT_KINDS: dict[str, str] = {
    "French": ("La bibliothèque municipale numérise ses archives : les journaux anciens, les lettres des "
               "habitants et les registres du conseil seront bientôt consultables en ligne par tous."),
    "German": ("Die Stadtbibliothek digitalisiert ihr Zeitungsarchiv. Bürgerinnen und Bürger können die "
               "Jahrgänge bald online durchsuchen; die Digitalisierungsarbeiten dauern voraussichtlich zwei Jahre."),
    "Turkish": ("Belediye kütüphanesi eski gazeteleri dijitalleştiriyor; yakında herkes arşivde çevrimiçi "
                "arama yapabilecek ve kasabanın tarihini okuyabilecek."),
    "rare words & typos": ("The antidisestablishmentarianism debate was definately unprecedented; "
                           "pneumonoultramicroscopicsilicovolcanoconiosis is recieved as a seperate, "
                           "hyperparameterised tokenisation edge-case by LLaMA-3.1-70B-Instruct."),
}

SENTENCE_GROUPS: dict[str, list[str]] = {
    "libraries": ["The library is digitising its old newspapers.", "Old newspapers are being scanned by the archive.",
                  "Volunteers help the librarians scan historical records."],
    "cooking": ["Knead the dough and let it rise for an hour.", "Bake the bread until the crust is golden.",
                "This recipe needs flour, yeast and warm water."],
    "football": ["The striker scored twice in the second half.", "The goalkeeper saved a penalty in extra time.",
                 "The team won the league on the final day."],
}


def source_code_sample() -> str:
    """Real Python source: zero2hero's own WordPiece function."""
    from zero2hero.tokenization.wordpiece import wordpiece_word

    return inspect.getsource(wordpiece_word)
