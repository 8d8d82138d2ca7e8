"""End-to-end tests of the PGGAN bundle (see ``progressive_bundle.py``): train 4 -> 8 -> 16 px, kill mid-fade and
resume to the same weights, infer, export, 3D, bad input."""

from __future__ import annotations

import pytest
from progressive_bundle import (
    Runs,
    check_inference_and_export,
    check_kill_and_resume,
    check_training,
    check_volumes,
    describe,
    run_everything,
    train,
    write_pngs,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return run_everything("pggan", tmp_path_factory.mktemp("pggan"))


def test_training_grows_to_the_final_resolution(runs):
    check_training(runs, "pggan")


def test_killed_mid_fade_resumes_to_the_same_weights(runs):
    check_kill_and_resume(runs)


def test_inference_and_torchscript_export(runs):
    check_inference_and_export(runs)


def test_3d_training_and_inference(runs):
    check_volumes(runs)


def test_final_resolution_larger_than_the_data_is_refused(runs, tmp_path):
    """20 x 24 px images cannot feed a 64 px last stage: one sentence, before training, nothing written."""
    output_dir = tmp_path / "out"
    small = write_pngs(tmp_path / "small", 8, shape=(20, 24))
    result = train(runs.bundle_dir, dataset_dir=small, output_dir=output_dir, image_size=64)
    assert result.returncode != 0
    messages = [line for line in result.stderr.splitlines() if line.startswith("medgan:")]
    assert len(messages) == 1 and "Traceback" not in result.stderr, describe(result)
    assert "too small for image_size 64" in messages[0] and "--image_size to 32" in messages[0]
    assert not output_dir.exists()
