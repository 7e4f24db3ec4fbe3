"""Chapter 2: from one-hot vectors to dense embeddings — similarity, neighbours and projections."""

from zero2hero.embeddings.onehot import OneHotCost, one_hot, one_hot_vs_dense
from zero2hero.embeddings.projection import pca_2d
from zero2hero.embeddings.sentence import embed_sentences, mean_pooling
from zero2hero.embeddings.similarity import cosine_similarity, nearest_neighbours

__all__ = ["OneHotCost", "cosine_similarity", "embed_sentences", "mean_pooling", "nearest_neighbours",
           "one_hot", "one_hot_vs_dense", "pca_2d"]
