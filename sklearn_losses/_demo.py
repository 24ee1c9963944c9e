"""The main job: every estimator and the baselines users would pick, on Yeast.

One multi-label stratified 70/30 split of river's bundled Yeast feeds every
model, so the rows of the table are comparable. Each method is also shown in
the setting it was built for (positive-unlabeled labels, noisy labels, a
stream, prediction sets) next to the baseline for that setting.
"""

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, hamming_loss
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from .datasets import load_yeast
from .noise import inject_label_noise, make_positive_unlabeled


@dataclass
class _Row:
    """One line of the comparison table."""

    model: str
    setting: str
    fit_seconds: float
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "setting": self.setting,
            "model": self.model,
            "micro-F1": f1_score(self.y_true, self.y_pred, average="micro", zero_division=0),
            "macro-F1": f1_score(self.y_true, self.y_pred, average="macro", zero_division=0),
            "example-F1": f1_score(
                self.y_true, self.y_pred, average="samples", zero_division=1
            ),
            "Hamming": hamming_loss(self.y_true, self.y_pred),
            "mAP": (
                average_precision_score(self.y_true, self.y_score, average="macro")
                if self.y_score is not None
                else np.nan
            ),
            "fit s": self.fit_seconds,
            "note": self.note,
        }


def _timed_fit(estimator, X, Y):
    start = time.perf_counter()
    estimator.fit(X, Y)
    return time.perf_counter() - start


def _proba(estimator, X):
    proba = estimator.predict_proba(X)
    if isinstance(proba, list):  # MultiOutputClassifier: one (n, 2) array per label
        proba = np.column_stack([p[:, 1] for p in proba])
    return np.asarray(proba, dtype=np.float64)


def _skorch_bce(n_features, n_labels, epochs, seed):
    """skorch with plain BCE on the same MLP as our estimators: the peer users know."""
    from skorch import NeuralNet

    from .networks import MLPNetwork

    torch.manual_seed(seed)
    return NeuralNet(
        MLPNetwork,
        module__n_features=n_features,
        module__n_outputs=n_labels,
        criterion=torch.nn.BCEWithLogitsLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=128,
        train_split=None,
        # Logits out: skorch's "auto" would apply a sigmoid and stack [1 - p, p].
        predict_nonlinearity=None,
        verbose=0,
    )


class _SkorchBCE:
    """Fit/predict adapter so the raw skorch net fits in the same table."""

    def __init__(self, n_features, n_labels, epochs, seed):
        self.net = _skorch_bce(n_features, n_labels, epochs, seed)

    def fit(self, X, Y):
        self.net.fit(X.astype(np.float32), Y.astype(np.float32))
        return self

    def predict_proba(self, X):
        logits = self.net.predict_proba(X.astype(np.float32))
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def predict(self, X):
        return (self.predict_proba(X) >= 0.5).astype(int)


def _batch_models(n_features, n_labels, epochs, seed):
    from .multilabel import HybridLossMultiLabelClassifier

    logreg = LogisticRegression(max_iter=500)
    return {
        "BR logistic regression (sklearn)": MultiOutputClassifier(logreg),
        "ClassifierChain (sklearn)": ClassifierChain(logreg, random_state=seed),
        # Both at their defaults: what a user gets without tuning.
        "MLPClassifier (sklearn)": MLPClassifier(random_state=seed),
        "skorch MLP, plain BCE": _SkorchBCE(n_features, n_labels, epochs, seed),
        "HybridLossMultiLabelClassifier": HybridLossMultiLabelClassifier(random_state=seed),
    }


def _clean_label_rows(X_tr, Y_tr, X_te, Y_te, epochs, seed):
    rows = []
    models = _batch_models(X_tr.shape[1], Y_tr.shape[1], epochs, seed)
    for name, model in tqdm(models.items(), desc="clean labels", leave=False):
        with _silence_convergence():
            seconds = _timed_fit(model, X_tr, Y_tr)
        rows.append(_Row(name, "clean labels", seconds, Y_te, model.predict(X_te),
                         _proba(model, X_te)))
    return rows


def _pu_rows(X_tr, Y_tr, X_te, Y_te, epochs, seed):
    from .multilabel import PUMultiLabelClassifier

    Y_pu, _ = make_positive_unlabeled(Y_tr, keep_positive=0.3, random_state=seed)
    setting = "30% of positives observed, no negatives"
    naive = _SkorchBCE(X_tr.shape[1], Y_tr.shape[1], epochs, seed)
    pu = PUMultiLabelClassifier(random_state=seed)
    rows = []
    for name, model, note in [
        ("skorch MLP, BCE (unlabeled = negative)", naive, "naive baseline"),
        ("PUMultiLabelClassifier", pu, "PU-MLC"),
    ]:
        seconds = _timed_fit(model, X_tr, Y_pu)
        rows.append(_Row(name, setting, seconds, Y_te, model.predict(X_te),
                         _proba(model, X_te), note))
    return rows


def _noisy_rows(X_tr, Y_tr, X_te, Y_te, epochs, seed):
    from .noisy import NoisyLabelRescaledClassifier

    Y_noisy, _ = inject_label_noise(
        Y_tr, (0.2, 0.05), kind="multilabel", random_state=seed
    )
    setting = "noisy labels (20% of 1s dropped, 5% of 0s set)"
    plain = _SkorchBCE(X_tr.shape[1], Y_tr.shape[1], epochs, seed)
    storm = NoisyLabelRescaledClassifier(max_epochs=max(epochs // 6, 3), random_state=seed)
    rows = []
    for name, model in [("skorch MLP, plain BCE", plain),
                        ("NoisyLabelRescaledClassifier (STORM)", storm)]:
        seconds = _timed_fit(model, X_tr, Y_noisy)
        rows.append(_Row(name, setting, seconds, Y_te, model.predict(X_te),
                         _proba(model, X_te)))
    return rows


def _river_br_logreg(X_tr, Y_tr, X_te):
    """river's binary-relevance logistic regression, trained one row at a time."""
    from river import compose, linear_model, multioutput, preprocessing

    model = compose.Pipeline(
        preprocessing.StandardScaler(),
        multioutput.PerOutputClassifier(linear_model.LogisticRegression()),
    )
    start = time.perf_counter()
    for x, y in zip(X_tr, Y_tr):
        model.learn_one(dict(enumerate(x)), {j: bool(v) for j, v in enumerate(y)})
    seconds = time.perf_counter() - start
    pred = np.array([
        [int(bool(p.get(j, False))) for j in range(Y_tr.shape[1])]
        for p in (model.predict_one(dict(enumerate(x))) for x in X_te)
    ])
    return seconds, pred


def _stream_rows(X_tr, Y_tr, X_te, Y_te, seed):
    from .streaming import IHOMERClassifier

    setting = "stream: one pass over training rows"
    seconds, pred = _river_br_logreg(X_tr, Y_tr, X_te)
    rows = [_Row("BR logistic regression (river)", setting, seconds, Y_te, pred)]
    ihomer = IHOMERClassifier(random_state=seed)
    start = time.perf_counter()
    for begin in range(0, X_tr.shape[0], 64):
        ihomer.partial_fit(X_tr[begin:begin + 64], Y_tr[begin:begin + 64])
    seconds = time.perf_counter() - start
    rows.append(_Row("IHOMERClassifier", setting, seconds, Y_te, ihomer.predict(X_te),
                     _proba(ihomer, X_te),
                     note=f"{ihomer.n_clusters_} label clusters"))
    return rows


def _conformal_rows(X_tr, Y_tr, X_te, Y_te, seed, significance=0.1):
    from .conformal import ConformalLabelPowersetClassifier

    setting = f"prediction sets, significance {significance}"
    base = MultiOutputClassifier(LogisticRegression(max_iter=500))
    conformal = ConformalLabelPowersetClassifier(
        base, significance=significance, random_state=seed
    )
    seconds = _timed_fit(conformal, X_tr, Y_tr)
    covered = np.mean(conformal.predict_p_values(X_te, Y_te, paired=True) > significance)
    # Sets on Yeast hold thousands of label vectors; the summary is what a
    # person can read: set size, labels surely in and possibly in.
    summary = conformal.predict_set_summary(X_te)
    note = (
        f"label-set coverage {covered:.3f}; |set| median {np.median(summary.n_sets):.0f} "
        f"(mean {np.mean(summary.n_sets):.0f}) of {2 ** Y_te.shape[1]}; labels surely in "
        f"{summary.intersection.sum(axis=1).mean():.1f}, possibly in "
        f"{summary.union.sum(axis=1).mean():.1f}; credibility "
        f"{np.mean(summary.credibility):.2f}"
    )
    rows = [_Row("ConformalLabelPowersetClassifier (BR-LR)", setting, seconds, Y_te,
                 conformal.predict(X_te), _proba(conformal, X_te), note=note)]
    rows.extend(_mapie_rows(X_tr, Y_tr, X_te, Y_te, seed, significance, setting))
    return rows


def _mapie_rows(X_tr, Y_tr, X_te, Y_te, seed, significance, setting):
    """MAPIE's controller bounds per-sample recall, not label-set coverage."""
    try:
        from mapie.risk_control import MultiLabelClassificationController
    except ImportError:
        return []
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X_tr))
    cut = int(0.75 * len(order))
    fit_idx, cal_idx = order[:cut], order[cut:]
    start = time.perf_counter()
    base = MultiOutputClassifier(LogisticRegression(max_iter=500)).fit(
        X_tr[fit_idx], Y_tr[fit_idx]
    )
    controller = MultiLabelClassificationController(
        predict_function=base.predict_proba, risk="recall", method="crc",
        target_level=1 - significance, random_state=seed,
    )
    controller.calibrate(X_tr[cal_idx], Y_tr[cal_idx])
    seconds = time.perf_counter() - start
    pred = np.asarray(controller.predict(X_te))
    pred = pred[..., 0] if pred.ndim == 3 else pred
    recall = np.mean(
        [(p & y).sum() / max(y.sum(), 1) for p, y in zip(pred.astype(int), Y_te)]
    )
    return [_Row("MAPIE MultiLabelClassificationController (CRC)", setting, seconds,
                 Y_te, pred.astype(int),
                 note=f"controls mean recall: {recall:.3f} (target {1 - significance})")]


class _silence_convergence:
    """sklearn's MLP warns at a fixed epoch budget; the budget is deliberate here."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _split_yeast(seed):
    yeast = load_yeast()
    X, Y = yeast.data, yeast.target
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.3, random_state=seed)
    train, test = next(splitter.split(X, Y))
    scaler = StandardScaler().fit(X[train])
    return (scaler.transform(X[train]).astype(np.float32), Y[train],
            scaler.transform(X[test]).astype(np.float32), Y[test])


def _plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{m}\n[{s}]" for m, s in zip(table["model"], table["setting"])]
    fig, (ax_f1, ax_time) = plt.subplots(
        1, 2, figsize=(13, 0.45 * len(table) + 1.5), sharey=True,
        gridspec_kw={"width_ratios": [3, 1]},
    )
    y = np.arange(len(table))
    ax_f1.barh(y - 0.2, table["macro-F1"], height=0.4, label="macro-F1")
    ax_f1.barh(y + 0.2, table["example-F1"], height=0.4, label="example-F1")
    ax_f1.set_yticks(y, labels, fontsize=7)
    ax_f1.invert_yaxis()
    ax_f1.set_xlabel("score on the Yeast test split")
    ax_f1.legend(loc="lower right")
    ax_time.barh(y, table["fit s"], color="grey")
    ax_time.set_xscale("log")
    # Minor tick labels on a short log axis overprint each other.
    ax_time.tick_params(axis="x", which="minor", labelbottom=False)
    ax_time.set_xlabel("fit time (s, log)")
    fig.suptitle("sklearn_losses on Yeast: our estimators vs common baselines")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _writable_folder(output_dir):
    """Create ``output_dir`` and prove it takes a file, so a bad path fails in a second."""
    output = Path(output_dir)
    try:
        output.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=output).close()
    except OSError as error:
        raise PermissionError(f"Cannot write results to {output}: {error}") from error
    return output


def run_yeast_comparison(output_dir="sklearn_losses_output", random_state=0, quick=False):
    """Fit every estimator and its baselines on Yeast; print and save the table.

    Parameters
    ----------
    output_dir : str or Path, default="sklearn_losses_output"
        Folder that receives ``yeast_comparison.csv`` and ``yeast_comparison.png``.
    random_state : int, default=0
        Seed of the split and of every model.
    quick : bool, default=False
        Use 10 epochs instead of 60, for a smoke run.

    Returns
    -------
    table : pandas.DataFrame
        One row per (setting, model).

    Raises
    ------
    PermissionError
        If ``output_dir`` cannot be created or written; checked before any training.
    """
    output = _writable_folder(output_dir)
    epochs = 10 if quick else 60
    X_tr, Y_tr, X_te, Y_te = _split_yeast(random_state)
    steps = [
        lambda: _clean_label_rows(X_tr, Y_tr, X_te, Y_te, epochs, random_state),
        lambda: _pu_rows(X_tr, Y_tr, X_te, Y_te, epochs, random_state),
        lambda: _noisy_rows(X_tr, Y_tr, X_te, Y_te, epochs, random_state),
        lambda: _stream_rows(X_tr, Y_tr, X_te, Y_te, random_state),
        lambda: _conformal_rows(X_tr, Y_tr, X_te, Y_te, random_state),
    ]
    rows = []
    for step in tqdm(steps, desc="Yeast comparison"):
        rows.extend(step())
    table = pd.DataFrame([row.as_dict() for row in rows])
    table.to_csv(output / "yeast_comparison.csv", index=False)
    _plot(table, output / "yeast_comparison.png")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                           "display.float_format", "{:.3f}".format):
        for setting, group in table.groupby("setting", sort=False):
            print(f"\n== {setting} ==")
            print(group.drop(columns="setting").to_string(index=False))
    print(f"\nTable: {output / 'yeast_comparison.csv'}")
    print(f"Plot:  {output / 'yeast_comparison.png'}")
    return table
