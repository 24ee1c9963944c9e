"""
=====================================================
Stacked text views: TF-IDF and MiniLM into a Bi-LSTM
=====================================================

GoEmotions labels Reddit comments with 28 emotions. A user's first model is TF-IDF
with one logistic regression per label. Here the same raw texts become three
*views* in one :class:`~sklearn.pipeline.Pipeline`: TF-IDF over words and over
characters, each reduced by SVD, and the sentence embeddings of all-MiniLM-L6-v2
(:class:`~sklearn_losses.text.SentenceEmbedder`, from the packaged offline copy).
:func:`~sklearn_losses.text.make_text_views` builds them and returns their widths,
which :class:`~sklearn_losses.HybridLossMultiLabelClassifier` reads as the steps
of its Bi-LSTM (``module="bilstm"``, ``view_sizes``), with per-label thresholds
tuned on a validation split (``threshold="tune"``).

To stay under a minute on 2 CPU cores the example keeps the ten most frequent
emotions and 800 training comments. At that size TF-IDF with logistic regression
remains the model to beat; the full-data comparison, and how both compare with
fine-tuned BERT, is in the GoEmotions section of ``docs/benchmarks.md``. Without the ``text`` extra
(``pip install 'sklearn-losses[text]'``) the pipeline keeps the two TF-IDF views;
without the GoEmotions files (see :func:`~sklearn_losses.datasets.load_goemotions`)
it runs on a small made-up corpus, so the figures then only illustrate the code.
"""

# %%
# Data
# ----
# Comments that carry at least one of the ten most frequent emotions (``neutral``
# left out), from the official train and test splits.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline, make_union

from sklearn_losses import HybridLossMultiLabelClassifier
from sklearn_losses.datasets import load_goemotions
from sklearn_losses.text import SentenceEmbedder, make_text_views

torch.set_num_threads(1)


def emotion_subset(bunch, labels, n_rows):
    keep = np.flatnonzero(bunch.target[:, labels].any(axis=1))[:n_rows]
    return [bunch.data[i] for i in keep], bunch.target[np.ix_(keep, labels)]


def made_up_corpus(n_rows, seed):
    """Short comments naming one or two emotions, when GoEmotions is absent."""
    words = {"joy": ["happy", "glad", "delighted"], "anger": ["furious", "mad", "angry"],
             "sadness": ["sad", "heartbroken", "down"], "surprise": ["shocked", "amazed", "wow"]}
    rng = np.random.default_rng(seed)
    names = list(words)
    texts, Y = [], np.zeros((n_rows, len(names)), dtype=int)
    for i in range(n_rows):
        chosen = rng.choice(len(names), size=rng.integers(1, 3), replace=False)
        Y[i, chosen] = 1
        feelings = " and ".join(rng.choice(words[names[j]]) for j in chosen)
        texts.append(f"honestly I am {feelings} about this {rng.choice(['game', 'post', 'news'])}")
    return texts, Y, names


try:
    train, test = load_goemotions(subset="train"), load_goemotions(subset="test")
    counts = train.target.sum(axis=0)
    counts[train.target_names.index("neutral")] = 0
    labels = list(np.argsort(counts)[::-1][:10])
    names = [train.target_names[j] for j in labels]
    X_train, Y_train = emotion_subset(train, labels, 800)
    X_test, Y_test = emotion_subset(test, labels, 400)
except FileNotFoundError as error:
    print(f"GoEmotions not found ({error}); using a made-up corpus instead.")
    X_train, Y_train, names = made_up_corpus(600, seed=0)
    X_test, Y_test, _ = made_up_corpus(300, seed=1)
print(f"{len(X_train)} training and {len(X_test)} test comments, {len(names)} labels")

# %%
# Two pipelines from raw text
# ---------------------------
# The baseline: sparse TF-IDF (words and characters) and per-label logistic
# regression with balanced class weights. Ours: the stacked views and the hybrid
# classifier's Bi-LSTM, one view per step.
try:
    embedders = [SentenceEmbedder(device="cpu")]
    views, view_sizes = make_text_views(embedders, n_components=64, random_state=0)
except ImportError as error:
    print(f"{error}\nContinuing with the TF-IDF views only.")
    views, view_sizes = make_text_views(n_components=64, random_state=0)
print("view widths:", view_sizes)

baseline = make_pipeline(
    make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    ),
    OneVsRestClassifier(LogisticRegression(class_weight="balanced", max_iter=1000)),
)
hybrid = make_pipeline(
    views,
    HybridLossMultiLabelClassifier(
        module="bilstm", view_sizes=view_sizes, threshold="tune", random_state=0
    ),
)
scores = {}
for name, model in [("TF-IDF + LogReg", baseline), ("stacked views + hybrid", hybrid)]:
    Y_pred = model.fit(X_train, Y_train).predict(X_test)
    scores[name] = f1_score(Y_test, Y_pred, average=None, zero_division=0)
    print(f"{name:>24}: macro-F1 {scores[name].mean():.3f}, "
          f"micro-F1 {f1_score(Y_test, Y_pred, average='micro'):.3f}")

# %%
# Per-label F1, most frequent emotion first
# -----------------------------------------
# One macro-F1 per model hides where they differ; the bars show it label by label.
# On 800 comments TF-IDF + logistic regression leads on most labels, most clearly
# on those that a few words give away (gratitude: "thanks", amusement: "lol");
# the views help, if anywhere, on subtler emotions such as annoyance and
# disapproval. With all 43,000 training comments the gap narrows
# (``docs/benchmarks.md``).
order = np.argsort(Y_train.sum(axis=0))[::-1]
positions = np.arange(len(order))
fig, ax = plt.subplots(figsize=(8, 4))
for k, (name, f1) in enumerate(scores.items()):
    ax.bar(positions + (k - 0.5) * 0.4, f1[order], width=0.4, label=name)
ax.set_xticks(positions, [names[j] for j in order], rotation=45, ha="right")
ax.set_ylabel("test F1")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("GoEmotions subset: per-label F1")
fig.tight_layout()
plt.show()
