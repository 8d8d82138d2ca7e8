"""``--tracking mlflow`` as a user types it: MONAI's MLflow handler records every loss term of every iteration and
the run's parameters in a local SQLite store (MLflow no longer takes a plain folder), and the executed config as
an artifact. Needs MLflow (``pip install mlflow``); CI runs it in a virtual environment of its own
(``.ci/mlflow``), so the main environment keeps its packages."""

from __future__ import annotations

import pytest
from helpers import assert_ok, bundle_copy, loss_iterations, run_bundle, write_pngs

mlflow = pytest.importorskip("mlflow", reason="MLflow is optional: bash .ci/mlflow runs this test")
pytestmark = pytest.mark.slow


def test_mlflow_records_every_loss_term_and_the_parameters(tmp_path):
    bundle = bundle_copy("dcgan", tmp_path)
    output_dir = tmp_path / "run"
    assert_ok(run_bundle("run", "training", config_file=bundle / "configs" / "train.json", output_dir=output_dir,
                         dataset_dir=write_pngs(tmp_path / "pngs", 8), num_features=4, batch_size=4, max_epochs=2,
                         tracking="mlflow", experiment_name="medgan_test"))  # fmt: skip
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{output_dir / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("medgan_test")
    (run,) = client.search_runs([experiment.experiment_id])
    columns = (output_dir / "losses.csv").read_text().splitlines()[0].split(",")[1:]
    assert set(run.data.metrics) == set(columns) == {"loss_d", "loss_g"}
    for term in columns:
        history = client.get_metric_history(run.info.run_id, term)
        assert [metric.step for metric in history] == loss_iterations(output_dir)
    assert run.data.params["max_epochs"] == "2"
    assert list(output_dir.glob("config_*.json"))  # the executed config, logged as the run's artifact
