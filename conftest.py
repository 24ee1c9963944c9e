import os
from pathlib import Path

import numpy as np
import pytest
import torch

# One thread per process: on a loaded 2-core machine extra threads cost more
# than they give (STYLE.md section 3).
torch.set_num_threads(1)

SHARED_DATA = Path(
    os.environ.get(
        "SKLEARN_LOSSES_DATA", Path(__file__).resolve().parents[1] / "shared" / "data"
    )
)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def shared_data():
    """Path to ../shared/data; skips the test when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}; set SKLEARN_LOSSES_DATA")
    return SHARED_DATA
