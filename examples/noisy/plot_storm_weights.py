"""
==============================================================
STORM: learned loss weights separate flipped labels from clean
==============================================================

:class:`~sklearn_losses.NoisyLabelRescaledClassifier` (STORM) trains a small
rescaler network next to the classifier. It gives every training sample a
weight in (0, 1) from how the sample's loss and confidence behave over a few
dropout passes, compared with recent samples of the same (noisy) class. The
rescaler is meta-learned on batches drawn from the same noisy training set, so
no clean validation data is needed.

We flip 40 % of the digits training labels to another class at random, fit
STORM, and look at the weights it learned for the flipped and the clean
samples.
"""

# %%
# Noisy digits
# ------------
# :func:`~sklearn_losses.noise.inject_label_noise` returns the corrupted labels
# and a mask of the flipped ones, which we only use to score the weights.
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_losses import NoisyLabelRescaledClassifier
from sklearn_losses.noise import inject_label_noise

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
y_noisy, is_flipped = inject_label_noise(y_train, 0.4, random_state=0)
print(f"{is_flipped.mean():.0%} of {len(y_noisy)} training labels flipped")

# %%
# Fit STORM
# ---------
clf = NoisyLabelRescaledClassifier(max_epochs=15, random_state=0)
clf.fit(X_train, y_noisy)
weights = clf.sample_weights_
print(f"test accuracy on clean labels: {clf.score(X_test, y_test):.3f}")
print(f"ROC-AUC of the weights, clean vs flipped: {roc_auc_score(~is_flipped, weights):.3f}")

# %%
# The weights at the end, and averaged over the epochs
# -----------------------------------------------------
# Early on the weights are close to random; the rescaler learns to push the
# flipped samples down within a few epochs. ``sample_weights_`` holds the last
# epoch's weights and ``sample_weight_mean_`` their mean over the epochs (kept
# as a running sum, so no per-epoch copies are stored), which is a steadier
# score. ``label_issues_`` flags the samples whose mean weight fell below 0.5
# and whose label the model itself does not predict, in cleanlab's column names
# (the weights are batch-normalised around 0.5, so the weight alone would flag
# about half of any data set).
mean_weights = clf.sample_weight_mean_
print(f"ROC-AUC of the mean weights: {roc_auc_score(~is_flipped, mean_weights):.3f}")
fig, (ax_last, ax_mean) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, scores, title in [(ax_last, weights, "Last epoch"),
                          (ax_mean, mean_weights, "Mean over the epochs")]:
    for mask, label, color in [(~is_flipped, "clean", "tab:blue"),
                               (is_flipped, "flipped", "tab:red")]:
        ax.hist(scores[mask], bins=30, range=(0, 1), alpha=0.6, color=color, label=label)
    ax.set(xlabel="learned weight", title=title)
    ax.legend()
ax_last.set_ylabel("samples")
fig.tight_layout()

flagged = clf.label_issues_["is_label_issue"].to_numpy()
print(f"flagged {flagged.sum()} samples; {is_flipped[flagged].mean():.0%} of them were flipped, "
      f"{flagged[is_flipped].mean():.0%} of the flipped ones were flagged")
