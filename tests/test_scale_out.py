"""The documented scale-out path (docs/scale_out.rst): GridSearchCV over our
estimators through joblib's Dask backend on a dask.distributed LocalCluster gives
the same search as running it in-process."""

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier

distributed = pytest.importorskip(
    "dask.distributed", reason="the scale-out path needs the 'dask[distributed]' extra"
)
joblib = pytest.importorskip("joblib")


def _search():
    pipe = make_pipeline(
        StandardScaler(), HybridLossMultiLabelClassifier(max_epochs=4, random_state=0)
    )
    grid = {"hybridlossmultilabelclassifier__corr_weight": [0.0, 1.0]}
    return GridSearchCV(pipe, grid, scoring="f1_micro", cv=KFold(2), n_jobs=2)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_grid_search_on_local_dask_cluster_matches_in_process():
    X, Y = make_multilabel_classification(
        n_samples=160, n_features=8, n_classes=3, random_state=0
    )
    local = _search().fit(X, Y)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            remote = _search().fit(X, Y)
    # The fits really ran on the cluster: 2 candidates x 2 folds at least.
    assert len(tasks.data) >= 4
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], atol=1e-6
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))
