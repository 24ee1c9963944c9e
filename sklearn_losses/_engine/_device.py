"""Where and how torch runs: device resolution, seeding and CPU threads."""

import os
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["draw_seed", "resolve_device", "resolve_n_threads", "seeded_torch", "torch_threads"]

# torch has one global RNG per process. A seeded fit forks it, seeds it and
# restores it; two fits in threads would interleave their draws, so seeded
# regions run one at a time (re-entrant: a fit may call a seeded helper).
_SEED_LOCK = threading.RLock()


def resolve_device(device):
    """Return the torch device string that ``device`` stands for.

    ``"auto"`` means CUDA when a GPU is visible, else CPU. Asking for CUDA on a
    machine without one, or for a GPU index that does not exist, is an error
    rather than a silent fallback, so a user never believes they trained on a
    GPU when they did not.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:<index>"``, or a
        ``torch.device`` of the CPU or a GPU (as skorch accepts).

    Returns
    -------
    device : str
        The resolved device, e.g. ``"cuda:0"`` for ``torch.device("cuda", 0)``.
    """
    name = str(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()):
        raise ValueError(
            f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'cuda:<index>' "
            "(lower case)."
        )
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine; use device='auto' or device='cpu'."
            )
        if index and int(index) >= count:
            raise ValueError(
                f"device={device!r} names GPU {index}, but this machine has {count} "
                f"GPU(s) (cuda:0 to cuda:{count - 1})."
            )
    return name


def draw_seed(random_state):
    """Draw one integer seed for torch from a sklearn ``random_state``.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As in scikit-learn.

    Returns
    -------
    seed : int
        A seed in ``[0, 2**31 - 1)``.
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class seeded_torch:
    """Context manager: seed torch inside a fork of its global RNG state.

    The caller's global RNG state (CPU and, when used, CUDA) is restored on
    exit, so fitting an estimator never perturbs user code that relies on
    ``torch.manual_seed``. Seeded regions of different threads run one after
    the other, so a fit in a thread pool gives the same model as a
    sequential one.

    Parameters
    ----------
    seed : int
        Seed for torch's global generators.
    device : str, default="cpu"
        Device whose CUDA generator is forked as well.
    """

    def __init__(self, seed, device="cpu"):
        self.seed = seed
        self.device = device

    def __enter__(self):
        _SEED_LOCK.acquire()
        try:
            cuda = [torch.device(self.device)] if self.device.startswith("cuda") else []
            self._fork = torch.random.fork_rng(devices=cuda)
            self._fork.__enter__()
            torch.manual_seed(self.seed)
        except BaseException:
            _SEED_LOCK.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            return self._fork.__exit__(*exc)
        finally:
            _SEED_LOCK.release()


def resolve_n_threads(n_jobs):
    """Number of torch CPU threads that ``n_jobs`` stands for.

    ``None`` means 1, as in scikit-learn: on a busy machine extra intra-op
    threads cost more than they give for the small layers these estimators
    train (``docs/benchmarks.md``). ``-1`` means all cores, ``-2`` all but
    one, and so on.

    Parameters
    ----------
    n_jobs : int or None
        As in scikit-learn.

    Returns
    -------
    n_threads : int
        At least 1.
    """
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


class torch_threads:
    """Context manager: run torch with ``n_threads`` CPU threads, then restore.

    Parameters
    ----------
    n_threads : int
        Intra-op threads for the duration of the block.
    """

    def __init__(self, n_threads):
        self.n_threads = n_threads

    def __enter__(self):
        self._previous = torch.get_num_threads()
        if self._previous != self.n_threads:
            torch.set_num_threads(self.n_threads)
        return self

    def __exit__(self, *exc):
        if torch.get_num_threads() != self._previous:
            torch.set_num_threads(self._previous)
        return False
