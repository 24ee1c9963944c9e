"""
============================================================
PU-MLC: multi-label learning when most positives are missing
============================================================

:class:`~sklearn_losses.PUMultiLabelClassifier` treats a 1 as an observed
positive and everything else as *unlabeled*. The naive alternative trains
binary cross-entropy and reads every unlabeled entry as a negative, which
teaches the network that hidden positives are negatives.

On Yeast we keep each training positive with probability ``p`` (selected
completely at random), train both models, and score them on the fully labelled
test set as ``p`` goes from 0.1 to 0.9. We then check the label frequencies
that PU-MLC estimates from the PU labels alone.
"""

# %%
# Data and models
# ---------------
# :func:`~sklearn_losses.noise.make_positive_unlabeled` hides positives; the test
# labels stay complete. The naive model is the same 2x128 MLP with plain BCE.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import average_precision_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier, PUMultiLabelClassifier
from sklearn_losses.datasets import load_yeast
from sklearn_losses.noise import make_positive_unlabeled

torch.set_num_threads(1)
X, Y = load_yeast(return_X_y=True)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.3, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def naive_bce():
    return HybridLossMultiLabelClassifier(pos_weighting=None, corr_weight=0.0,
                                          contrastive_weight=0.0, dropout=0.0,
                                          max_epochs=30, random_state=0)


def pu_mlc():
    return PUMultiLabelClassifier(max_epochs=30, random_state=0,
                                  on_missing_positives="warn")


def scores(clf, Y_pu):
    # BCE cannot fit a label with no positive; at small p we predict 0 for it.
    present = Y_pu.max(axis=0) == 1
    if isinstance(clf, PUMultiLabelClassifier):
        present[:] = True
    clf.fit(X_train, Y_pu[:, present])
    proba = np.zeros(Y_test.shape)
    proba[:, present] = clf.predict_proba(X_test)
    ap = average_precision_score(Y_test, proba, average="macro")
    f1 = f1_score(Y_test, proba >= 0.5, average="macro", zero_division=0)
    return ap, f1, clf


# %%
# Fraction of positives kept
# --------------------------
# Naive BCE keeps a fair ranking (macro AP) but its probabilities shrink with
# ``p``, so at the 0.5 threshold it predicts almost nothing: macro-F1 collapses.
# PU-MLC keeps a usable 0.5 threshold down to ``p = 0.1`` and ranks better when
# few positives are kept. Once most positives are kept, the zeros are nearly all
# true negatives: BCE uses them and PU-MLC, which never trusts a 0, falls behind
# on macro AP.
keep = [0.1, 0.3, 0.5, 0.9]
results = {"naive BCE": [], "PU-MLC": []}
for p in keep:
    Y_pu, _ = make_positive_unlabeled(Y_train, keep_positive=p, random_state=0)
    results["naive BCE"].append(scores(naive_bce(), Y_pu)[:2])
    ap, f1, clf = scores(pu_mlc(), Y_pu)
    results["PU-MLC"].append((ap, f1))
    if p == 0.3:
        pu_model, pu_labels = clf, Y_pu

for name, values in results.items():
    print(name, " ".join(f"p={p}: {ap:.3f}/{f1:.3f}" for p, (ap, f1) in zip(keep, values)))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
for name, values in results.items():
    values = np.array(values)
    axes[0].plot(keep, values[:, 0], marker="o", label=name)
    axes[1].plot(keep, values[:, 1], marker="o", label=name)
axes[0].set(xlabel="fraction of positives kept", ylabel="macro AP (test)")
axes[1].set(xlabel="fraction of positives kept", ylabel="macro-F1 at 0.5 (test)")
axes[0].legend()
fig.tight_layout()

# %%
# Estimated label frequencies
# ---------------------------
# ``observed_positive_rate_`` is what the PU labels show (about ``p`` times the
# truth); ``label_prior_`` is PU-MLC's mean predicted probability on the training
# rows. It orders the labels by frequency, but on Yeast it runs well above the
# truth (the variational loss fixes probabilities only up to a scale), so read it
# as a ranking of the labels, not as calibrated priors.
true_rate = Y_train.mean(axis=0)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(true_rate, pu_model.label_prior_, label="label_prior_")
ax.scatter(true_rate, pu_model.observed_positive_rate_, marker="x",
           label="observed_positive_rate_")
top = 1.05 * max(true_rate.max(), pu_model.label_prior_.max())
ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1)
ax.set(xlabel="true label frequency (train)", ylabel="estimate",
       title="Yeast, 30 % of positives kept")
ax.legend()
fig.tight_layout()
