"""The baselines a fine-tune must beat: majority class, TF-IDF + logistic regression, a linear probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.finetuning.tiny_bert import make_splits, write_tiny_bert
from zero2hero.errors import InputError
from zero2hero.finetuning import baselines as b
from zero2hero.finetuning.data import Example


def test_majority_class_predicts_the_commonest_training_label_with_its_share() -> None:
    train = [Example("a", 1)] * 3 + [Example("b", 0)]
    model = b.fit(b.majority_class(), train)
    probs = b.probabilities(model, [Example("anything", 0), Example("else", 1)], 2)
    assert probs.tolist() == [[0.25, 0.75], [0.25, 0.75]]


def test_tfidf_logistic_regression_learns_the_keywords() -> None:
    splits = make_splits(n_train=200, n_validation=60)
    model = b.fit(b.tfidf_logistic_regression(), splits.train)
    probs = b.probabilities(model, splits.validation, 2)
    assert probs.shape == (60, 2) and np.allclose(probs.sum(axis=1), 1)
    accuracy = (probs.argmax(axis=1) == [e.label for e in splits.validation]).mean()
    assert accuracy > 0.9  # the label is decided by one sentiment word: a bag of words sees it


def test_linear_probe_classifies_the_encoders_sentence_embeddings(tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    from zero2hero.embeddings import embed_sentences

    folder = write_tiny_bert(tmp_path / "tiny", dropout=0.0)
    encoder, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    splits = make_splits(n_train=40, n_validation=10)
    probe = b.fit(b.linear_probe(encoder, tokenizer, max_length=64), splits.train)
    texts = [e.text for e in splits.validation]
    expected = embed_sentences(texts, encoder, tokenizer, batch_size=3).numpy()  # chapter 2's embeddings
    features = probe[0].transform(texts)  # the frozen encoder's part of the pipeline
    assert features.shape == (10, 32) and np.allclose(features, expected, atol=1e-5)
    assert np.allclose(b.probabilities(probe, splits.validation, 2), probe[1].predict_proba(expected), atol=1e-5)


def test_sentence_features_cut_each_text_at_max_length(tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    from zero2hero.embeddings import embed_sentences

    folder = write_tiny_bert(tmp_path / "tiny", dropout=0.0)
    encoder, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    texts = ["the coffee was very very fresh and really sweet", "bad", "a box of stale tea"]
    cut = [tokenizer.convert_tokens_to_string(tokenizer.tokenize(t)[:3]) for t in texts]  # [CLS] + 3 + [SEP]
    assert np.allclose(b.sentence_features(texts, encoder, tokenizer, max_length=5, batch_size=2),
                       embed_sentences(cut, encoder, tokenizer).numpy(), atol=1e-5)


def test_a_label_missing_from_training_is_refused() -> None:
    model = b.fit(b.majority_class(), [Example("a", 0), Example("b", 0)])
    with pytest.raises(InputError, match="every label id 0..1"):
        b.probabilities(model, [Example("c", 1)], 2)
