"""STORM's features agree with a slow per-row reference written with Python loops."""

import math
import statistics

import numpy as np
import pytest
import torch

from sklearn_losses._storm._features import N_FEATURES, FeatureMemory

TINY_STD = 1e-8


def _kl_overlap(mean_p, std_p, mean_q, std_q):
    if min(std_p, std_q) <= TINY_STD:
        return 0.0, 1.0
    kl = (math.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2)
          - 0.5)
    overlap = statistics.NormalDist(mean_p, std_p).overlap(statistics.NormalDist(mean_q, std_q))
    return kl, overlap


def _mean_std(values):
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, TINY_STD
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, max(std, TINY_STD)


class _ReferenceMemory:
    """One list of slots per noisy group and the slot of its newest unit, as in the spec."""

    def __init__(self, n_groups, size):
        self.size = size
        self.slots = [[None] * size for _ in range(n_groups)]
        self.tail = [size - 1] * n_groups

    def featurize(self, loss, confidence, correct, groups):
        n_passes, n = loss.shape
        units = []
        for i in range(n):
            votes = sum(correct[:, i])
            agrees = 2 * votes > n_passes or (2 * votes == n_passes and correct[0, i])
            units.append((
                float(np.mean(loss[:, i])), float(np.std(loss[:, i], ddof=1)),
                float(np.mean(confidence[:, i])), float(np.std(confidence[:, i], ddof=1)),
                int(groups[i]), bool(agrees)))
        remembered = [unit for slots in self.slots for unit in slots if unit is not None]
        table = units + remembered

        def group(unit):
            return [row for row in table if row[4:] == unit[4:]]

        scores = []
        for unit in table:
            mean_q = _mean_std([row[0] for row in group(unit)])[0]
            std_q = _mean_std([row[1] for row in group(unit)])[0]
            scores.append(unit[:4] + _kl_overlap(unit[0], unit[1], mean_q, std_q))
        features = []
        for i, unit in enumerate(units):
            members = [j for j, row in enumerate(table) if row[4:] == unit[4:]]
            row = []
            for k in range(6):
                row += [scores[i][k], *_mean_std([scores[j][k] for j in members])]
            features.append(row + [float(unit[5])])
        self._remember(units)
        return np.array(features)

    def _remember(self, units):
        # The first ``size`` units of a group in the batch go after its newest
        # slot, in order; the newest slot then moves on by the group's count.
        for g in range(len(self.slots)):
            mine = [unit for unit in units if unit[4] == g]
            for rank, unit in enumerate(mine[: self.size], start=1):
                self.slots[g][(self.tail[g] + rank) % self.size] = unit
            self.tail[g] = (self.tail[g] + len(mine)) % self.size


def _batches(rng, n_groups, n_passes):
    """Batches that wrap the memory, overfill a group, tie votes and repeat
    passes; the last has more units than the small-batch statistics path takes."""
    sizes = [7, 9, 3, 11, 6, 8, 5, 70]
    for call, n in enumerate(sizes):
        loss = rng.gamma(2.0, 0.5, size=(n_passes, n))
        confidence = rng.uniform(0.05, 1.0, size=(n_passes, n))
        correct = rng.random((n_passes, n)) < 0.5
        groups = rng.integers(n_groups, size=n)
        if call == 1:
            groups[:6] = 0  # more units of one group than it has slots
        if call == 2:
            groups[:] = n_groups - 1  # a group met once: one row, std 1e-8
            correct[:, 0] = True
        loss[:, 0] = loss[0, 0]  # identical passes: std 0, so KL 0 and overlap 1
        correct[: n_passes // 2, 1] = True  # an exact tie (even n_passes): pass 1 decides
        correct[n_passes // 2:, 1] = False
        yield loss, confidence, correct, groups


@pytest.mark.parametrize("dtype, rtol, atol", [(torch.float64, 1e-10, 1e-10),
                                               (torch.float32, 1e-5, 1e-5)])
@pytest.mark.parametrize("n_passes", [3, 4])
def test_featurize_matches_slow_reference_over_calls(dtype, rtol, atol, n_passes):
    rng = np.random.default_rng(n_passes)
    n_groups, size = 3, 4
    memory, reference = FeatureMemory(n_groups, size), _ReferenceMemory(n_groups, size)
    for loss, confidence, correct, groups in _batches(rng, n_groups, n_passes):
        features = memory.featurize(torch.tensor(loss, dtype=dtype),
                                    torch.tensor(confidence, dtype=dtype),
                                    torch.tensor(correct), torch.tensor(groups))
        expected = reference.featurize(loss, confidence, correct, groups)
        assert features.shape == (len(groups), N_FEATURES) and features.dtype == dtype
        np.testing.assert_allclose(features.numpy(), expected, rtol=rtol, atol=atol)
        # The identical passes' unit: KL 0 and overlap 1.
        assert features[0, 12] == 0 and features[0, 15] == 1
