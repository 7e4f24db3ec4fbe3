"""What a fine-tuned model must beat: three cheaper classifiers trained on the same training split.

- **majority class**: always the commonest training label; its accuracy is the share of that label;
- **TF-IDF + logistic regression**: word and word-pair counts, weighted by rarity, and a linear model;
- **linear probe**: the frozen pretrained encoder's mean-pooled sentence embeddings and a linear model on
  top. Only the linear layer learns; the gap between this and full fine-tuning is what updating the
  encoder's own weights buys.

Each is a scikit-learn estimator: ``fit(texts, labels)``, then ``predict_proba(texts)`` (n, n_labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def majority_class() -> DummyClassifier:
    """Predicts the commonest training label for every text, with probabilities the training label shares."""
    return DummyClassifier(strategy="prior")


def tfidf_logistic_regression(seed: int = 0) -> Pipeline:
    """TF-IDF of words and word pairs seen in at least two training texts, then logistic regression."""
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                         LogisticRegression(max_iter=2_000, random_state=seed))


def linear_probe(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int = 128,
                 seed: int = 0) -> Pipeline:
    """Frozen encoder embeddings (:func:`sentence_features`, (n, hidden)) then logistic regression."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        return sentence_features(list(texts), model, tokenizer, max_length)

    return make_pipeline(FunctionTransformer(embed), LogisticRegression(max_iter=2_000, random_state=seed))


def sentence_features(texts: list[str], model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                      max_length: int, batch_size: int = 32) -> np.ndarray:
    """Chapter 2's sentence embeddings (mean-pooled, L2-normalised), each text cut to ``max_length`` tokens.

    The cut makes the probe see what the fine-tuned model sees. Texts are embedded shortest first, so a
    batch pads to a similar length (rows come back in the input order). Returns (len(texts), hidden).
    """
    import torch

    from zero2hero.embeddings import mean_pooling

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    rows: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = tokenizer([texts[i] for i in order[start:start + batch_size]], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            rows.append(mean_pooling(model(**batch).last_hidden_state, batch["attention_mask"]))
    features = torch.nn.functional.normalize(torch.cat(rows), dim=1)  # (n, hidden), shortest text first
    return features[torch.argsort(torch.tensor(order))].numpy()


def fit(estimator: BaseEstimator, train: list[Example]) -> BaseEstimator:
    """Fit ``estimator`` on the training texts and labels; every label must occur in ``train``."""
    labels = [example.label for example in train]
    estimator.fit([example.text for example in train], labels)
    return estimator


def probabilities(estimator: BaseEstimator, examples: list[Example], n_labels: int) -> np.ndarray:
    """The fitted estimator's class probabilities (len(examples), n_labels), column i for label id i."""
    classes = list(estimator.classes_)
    if classes != list(range(n_labels)):
        raise InputError(f"the training labels were {classes}, not every label id 0..{n_labels - 1}",
                         "train on examples of every label")
    return estimator.predict_proba([example.text for example in examples])
