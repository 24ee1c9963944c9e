"""
Calibrated label-sets on Yeast
==============================

:class:`~sklearn_losses.conformal.ConformalLabelPowersetClassifier` turns the
per-label probabilities of any multi-label model into a *set* of label vectors.
At significance ``eps`` the set misses the true label vector (all 14 Yeast labels
at once) in at most a fraction ``eps`` of test samples, on average over
calibration and test draws. We check that guarantee empirically, look at what it
costs (the size of the sets), and read a set through its summary.
"""

# %%
# Fit and calibrate
# -----------------
# A quarter of the training data never touches the logistic regressions: it
# calibrates the nonconformity scores.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_losses.conformal import ConformalLabelPowersetClassifier
from sklearn_losses.datasets import load_yeast
from sklearn_losses.metrics import error_rate_band

X, Y = load_yeast(return_X_y=True)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.4, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

clf = ConformalLabelPowersetClassifier(
    MultiOutputClassifier(LogisticRegression(max_iter=1000)), random_state=0
).fit(X_train, Y_train)
print(f"{clf.n_calibration_} calibration samples, {clf.n_labels_} labels")

# %%
# Error and set size at many levels
# ---------------------------------
# The true label vector is outside the set exactly when its p-value is at most
# ``eps``, so one p-value per test sample gives the error at every ``eps``. Set
# sizes come from :meth:`predict_set_summary`, which counts the members of each
# set without listing them; a list of levels is answered in one call.
p_true = clf.predict_p_values(X_test, Y_test, paired=True)
grid = np.linspace(0.02, 0.5, 25)
errors = [(p_true <= eps).mean() for eps in grid]
bands = np.array([error_rate_band(len(X_test), clf.n_calibration_, eps) for eps in grid])
summaries = clf.predict_set_summary(X_test[:200], significance=list(grid))
median_sizes = [np.median(summary.n_sets) for summary in summaries]

# %%
# Validity is free, efficiency is not
# -----------------------------------
# Left: the error follows the diagonal, inside the band where an honest
# predictor's error falls 99% of the time. Right: Yeast labels are hard to predict
# jointly, so small ``eps`` needs sets of thousands of the 2**14 label vectors.
fig, (ax_err, ax_size) = plt.subplots(1, 2, figsize=(10, 4))
ax_err.fill_between(grid, bands[:, 0], bands[:, 1], alpha=0.3, label="99% band")
ax_err.plot(grid, grid, "k--", label="diagonal")
ax_err.plot(grid, errors, "o-", markersize=3, label="label-set error")
ax_err.set(xlabel="significance eps", ylabel="error rate", title="Validity")
ax_err.legend()
ax_size.plot(grid, median_sizes, "o-", markersize=3)
ax_size.set(xlabel="significance eps", ylabel="median set size", yscale="log",
            title="Efficiency")
fig.tight_layout()
plt.show()

# %%
# Reading one set
# ---------------
# Nobody reads a thousand label vectors. The summary says which labels every
# member has (surely in), which some member has (possibly in), and how sure the
# point prediction is: credibility is its p-value, confidence is one minus the
# p-value of the runner-up. Here is the test sample with the smallest set at
# ``eps = 0.3``. With this model even that set leaves every label undecided: the
# calibration threshold leaves room to flip any single label. Informative
# summaries need a sharper model or a larger ``eps``.
summary = clf.predict_set_summary(X_test[:200], significance=0.3)
i = int(np.argmin(summary.n_sets))
print("surely in:  ", np.flatnonzero(summary.intersection[i]).tolist())
print("possibly in:", np.flatnonzero(summary.union[i]).tolist())
print("true labels:", np.flatnonzero(Y_test[i]).tolist())
print(f"set size {summary.n_sets[i]}, credibility {summary.credibility[i]:.2f}, "
      f"confidence {summary.confidence[i]:.2f}")
print(f"samples with every label undecided: {np.mean(summary.n_uncertain == 14):.0%}")

# %%
# What the guarantee means
# ------------------------
# The bound is *marginal*: over random test samples, the true vector of all
# labels lies in the set with probability at least ``1 - eps``. It says nothing
# per sample or per label. Per-label methods such as MAPIE's risk controllers
# bound recall instead, and their single predicted vector matches the truth far
# less often than ``1 - eps``.
