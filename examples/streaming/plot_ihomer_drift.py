"""
=====================================================
iHOMER: label clusters that follow a concept drift
=====================================================

:class:`~sklearn_losses.IHOMERClassifier` learns a multi-label stream one
mini-batch at a time. It clusters the labels by how often they co-occur
(Jaccard distance in an online label tree) and gives every cluster its own
learner. When the stream changes, a drift detector flushes the label
statistics and the tree merges and re-splits to the new label groups.

We evaluate it *prequentially*: every batch of 64 rows is predicted before it
is learned, and we plot the example-based F1 over a sliding window, next to
river's binary-relevance logistic regression learning one row at a time.
"""

# %%
# A stream whose label groups change half way
# -------------------------------------------
# 12 labels. Before row 6000 they come in three groups, ``{0-3}``, ``{4-7}``,
# ``{8-11}``: a group is switched on by a direction in feature space and then
# each of its labels fires with probability 0.9. After row 6000 the groups are
# ``{j, j+4, j+8}`` and exactly one of them is on.
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D

from sklearn_losses import IHOMERClassifier
from sklearn_losses.datasets import load_yeast
from sklearn_losses.streaming import prequential_evaluate

torch.set_num_threads(1)
rng = np.random.RandomState(0)
n, drift_at = 12000, 6000
X = rng.randn(n, 16)
W = rng.randn(3, 16)
W /= np.linalg.norm(W, axis=1, keepdims=True)
V = rng.randn(4, 16)
V /= np.linalg.norm(V, axis=1, keepdims=True)
before = np.repeat(X @ W.T > 0.5, 4, axis=1) & (rng.rand(n, 12) < 0.9)
winner = np.argmax(X @ V.T, axis=1)
after = (winner[:, None] == np.arange(12) % 4) & (rng.rand(n, 12) < 0.9)
Y = np.where(np.arange(n)[:, None] < drift_at, before, after)
Y = (Y ^ (rng.rand(n, 12) < 0.02)).astype(int)

# %%
# River's baseline predicts and learns one row at a time.
from river import compose, linear_model, multioutput, preprocessing  # noqa: E402


def river_windowed_f1(X, Y, window):
    model = compose.Pipeline(
        preprocessing.StandardScaler(),
        multioutput.PerOutputClassifier(linear_model.LogisticRegression()),
    )
    scores = np.full(len(Y), np.nan)
    for i, (x, y) in enumerate(zip(X, Y)):
        xd = dict(enumerate(x))
        if i:
            pred = model.predict_one(xd) or {}
            p = np.array([bool(pred.get(j, False)) for j in range(Y.shape[1])])
            denom = p.sum() + y.sum()
            scores[i] = 2 * (p & (y == 1)).sum() / denom if denom else 1.0
        model.learn_one(xd, {j: bool(v) for j, v in enumerate(y)})
    return np.convolve(scores[1:], np.ones(window) / window, mode="valid")


# %%
# Run iHOMER prequentially and keep its drift log.
window = 500
clf = IHOMERClassifier(random_state=0)
start = time.perf_counter()
result = prequential_evaluate(clf, X, Y, batch_size=64, window=window)
print(f"iHOMER: {result['instances_per_second']:.0f} instances/s, "
      f"example-F1 {result['example_f1']:.3f}")
partition_log = [(seen, part) for seen, kind, part in clf.drift_log_ if kind == "restructure"]
for seen, part in partition_log:
    print(f"after {seen:5d} rows: clusters {part}")
baseline = river_windowed_f1(X, Y, window)

# %%
# The same on Yeast, with the 14 label columns reversed half way (the labels
# swap meanings, an abrupt drift on real data).
yeast = load_yeast()
Xy, Yy = yeast.data, yeast.target.copy()
half = len(Yy) // 2
Yy[half:] = Yy[half:, ::-1]
yeast_clf = IHOMERClassifier(random_state=0)
yeast_result = prequential_evaluate(yeast_clf, Xy, Yy, batch_size=64, window=200)
yeast_baseline = river_windowed_f1(Xy, Yy, 200)

# %%
# Plot: windowed example-F1 over the stream. Dashed: the true change point;
# red ticks: global drifts IHOMER detected; green: label-partition changes.
fig, axes = plt.subplots(2, 1, figsize=(8, 7))
panels = [
    (axes[0], result, baseline, window, clf, drift_at, "Synthetic: label groups change"),
    (axes[1], yeast_result, yeast_baseline, 200, yeast_clf, half,
     "Yeast: label meanings swapped"),
]
for ax, res, base, win, model, change, title in panels:
    ax.plot(res["windowed_example_f1"], label="IHOMERClassifier (batches of 64)")
    ax.plot(np.arange(win, win + len(base)), base,
            label="BR logistic regression (river, per instance)")
    ax.axvline(change, color="k", linestyle="--", label="true change")
    for seen, kind, _ in model.drift_log_:
        color = "tab:red" if kind == "drift" else "tab:green"
        ax.axvline(seen, color=color, alpha=0.6, linewidth=1, ymax=0.1)
    ax.set_title(title)
    ax.set_ylabel(f"example-F1 (last {win})")
axes[1].set_xlabel("instances seen")
handles, _ = axes[0].get_legend_handles_labels()
handles += [Line2D([], [], color="tab:red", label="global drift detected"),
            Line2D([], [], color="tab:green", label="label partition changed")]
axes[0].legend(handles=handles, loc="lower left", fontsize=8)
fig.tight_layout()
