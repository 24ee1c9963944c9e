"""Label corruption utilities: rates within binomial bands, masks that match what
changed, the noise models' transition structure, reproducibility and errors."""

import numpy as np
import pytest
from scipy.stats import binom

from sklearn_losses.noise import inject_label_noise, make_partial_labels, make_positive_unlabeled


def _within_binomial_band(count, n, p, alpha=1e-4):
    low, high = binom.interval(1 - alpha, n, p)
    return low <= count <= high


@pytest.fixture
def multiclass_labels():
    return np.random.default_rng(0).integers(0, 4, size=4000)


@pytest.fixture
def indicator():
    return (np.random.default_rng(1).random((800, 6)) < 0.3).astype(int)


@pytest.mark.parametrize("kind", ["symmetric", "pairflip"])
def test_single_label_noise_rate_and_mask(kind, multiclass_labels):
    y = multiclass_labels
    y_noisy, is_noisy = inject_label_noise(y, 0.3, kind=kind, random_state=0)
    np.testing.assert_array_equal(is_noisy, y_noisy != y)
    assert _within_binomial_band(is_noisy.sum(), y.size, 0.3)
    assert set(np.unique(y_noisy)) <= set(np.unique(y))


def test_pairflip_goes_to_the_next_class(multiclass_labels):
    y = multiclass_labels
    y_noisy, is_noisy = inject_label_noise(y, 0.4, kind="pairflip", random_state=0)
    np.testing.assert_array_equal(y_noisy[is_noisy], (y[is_noisy] + 1) % 4)


def test_symmetric_spreads_flips_uniformly_over_other_classes(multiclass_labels):
    y = multiclass_labels
    y_noisy, is_noisy = inject_label_noise(y, 0.5, kind="symmetric", random_state=0)
    from_zero = y_noisy[is_noisy & (y == 0)]
    counts = np.bincount(from_zero, minlength=4)
    assert counts[0] == 0
    for count in counts[1:]:
        assert _within_binomial_band(count, from_zero.size, 1 / 3)


def test_asymmetric_mapping_flips_only_listed_classes():
    y = np.array(["truck", "car", "cat", "dog"] * 500)
    y_noisy, is_noisy = inject_label_noise(
        y, 0.4, kind="asymmetric", transition={"truck": "car", "cat": "dog"}, random_state=0
    )
    assert not is_noisy[(y == "car") | (y == "dog")].any()
    assert set(zip(y[is_noisy].tolist(), y_noisy[is_noisy].tolist())) == {
        ("truck", "car"), ("cat", "dog")
    }
    assert _within_binomial_band(is_noisy.sum(), 1000, 0.4)


def test_asymmetric_matrix_follows_the_off_diagonal_rows():
    y = np.repeat([0, 1, 2], 3000)
    transition = [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5]]
    y_noisy, is_noisy = inject_label_noise(
        y, 0.6, kind="asymmetric", transition=transition, random_state=0
    )
    assert not is_noisy[y == 1].any(), "a row with no off-diagonal mass never flips"
    assert (y_noisy[is_noisy & (y == 0)] == 1).all()
    from_two = y_noisy[is_noisy & (y == 2)]
    assert _within_binomial_band((from_two == 0).sum(), from_two.size, 0.5)


def test_exact_flips_the_exact_count(multiclass_labels):
    _, is_noisy = inject_label_noise(multiclass_labels, 0.25, exact=True, random_state=3)
    assert is_noisy.sum() == 1000


def test_multilabel_noise_per_direction(indicator):
    Y = indicator
    Y_noisy, is_noisy = inject_label_noise(Y, (0.2, 0.05), kind="multilabel", random_state=0)
    np.testing.assert_array_equal(is_noisy, Y_noisy != Y)
    assert Y_noisy.dtype == Y.dtype
    ones, zeros = Y == 1, Y == 0
    assert _within_binomial_band(is_noisy[ones].sum(), ones.sum(), 0.2)
    assert _within_binomial_band(is_noisy[zeros].sum(), zeros.sum(), 0.05)


def test_noise_is_reproducible_and_seed_dependent(multiclass_labels):
    first = inject_label_noise(multiclass_labels, 0.3, random_state=7)[0]
    again = inject_label_noise(multiclass_labels, 0.3, random_state=7)[0]
    other = inject_label_noise(multiclass_labels, 0.3, random_state=8)[0]
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


def test_positive_unlabeled_keeps_positives_at_rate(indicator):
    Y = indicator
    Y_pu, is_hidden = make_positive_unlabeled(Y, keep_positive=0.3, random_state=0)
    assert not Y_pu[Y == 0].any(), "negatives stay unlabeled (0)"
    np.testing.assert_array_equal(is_hidden, (Y == 1) & (Y_pu == 0))
    assert _within_binomial_band(Y_pu.sum(), Y.sum(), 0.3)


def test_partial_labels_hide_entries_as_nan(indicator):
    Y = indicator
    Y_partial, is_known = make_partial_labels(Y, 0.4, random_state=0)
    assert Y_partial.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(Y_partial), ~is_known)
    np.testing.assert_array_equal(Y_partial[is_known], Y[is_known])
    assert _within_binomial_band(is_known.sum(), Y.size, 0.4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: inject_label_noise([0, 1, 1], 1.5), r"\[0, 1\]"),
        (lambda: inject_label_noise([0, 1, 1], 0.2, kind="uniform"), "kind must be one of"),
        (lambda: inject_label_noise([1, 1, 1], 0.2), "single class"),
        (lambda: inject_label_noise([0, 1], 0.2, kind="asymmetric"), "needs transition"),
        (lambda: inject_label_noise([0, 1], 0.2, kind="asymmetric", transition={0: 5}),
         "not classes of y"),
        (lambda: inject_label_noise([0, 1], 0.2, transition={0: 1}), "only used with"),
        (lambda: inject_label_noise([[0, 1], [1, 0]], 0.2), "kind='multilabel'"),
        (lambda: inject_label_noise([[0, 2]], 0.2, kind="multilabel"), "only 0 and 1"),
        (lambda: make_positive_unlabeled([[0, 1], [1, 3]], 0.5), "only 0 and 1"),
        (lambda: make_partial_labels([[0, 1]], -0.1), "known_ratio"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
