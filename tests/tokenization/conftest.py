from __future__ import annotations

import pytest

# Accents, punctuation, CJK, emoji, long words, numbers, code, white space and special tokens.
VARIED_TEXTS = [
    "Hello, world! It's a beautiful day.",
    "naïve café résumé Ångström Fernández-Müller",
    "東京は日本の首都です。北京欢迎你！",
    "Emoji: 👍🏽 ❤️ 👨‍👩‍👧 ✨📚",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "Numbers 12345678, 3.14159, 1e-10, 2024-11-25 and $48,500 (31%)",
    "def f(x):\n    return x ** 2  # square\n\n\tprint(f'{x=}')",
    "   leading spaces, trailing spaces   \n\n\n",
    "İstanbul STRASSE Straße ǅ ﬁ ﬂ",
    "typos: teh recieve seperate definately",
]


@pytest.fixture(scope="session")
def smollm2_tokenizers():
    """(our BPE from the GGUF file, the Hugging Face tokenizer of the same model)."""
    from transformers import AutoTokenizer

    from zero2hero.assets import asset_path, resolve_model_path
    from zero2hero.tokenization import BPETokenizer

    return BPETokenizer.from_gguf(asset_path("smollm2")), AutoTokenizer.from_pretrained(resolve_model_path("smollm2"))


@pytest.fixture(scope="session")
def minilm_tokenizers():
    from transformers import AutoTokenizer

    from zero2hero.assets import asset_path
    from zero2hero.tokenization import WordPieceTokenizer

    folder = asset_path("minilm")
    return WordPieceTokenizer.from_vocab_file(folder / "vocab.txt"), AutoTokenizer.from_pretrained(folder)
