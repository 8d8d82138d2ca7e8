"""End-to-end tests of the StyleGAN bundle (see ``progressive_bundle.py``): train 4 -> 8 -> 16 px, kill mid-fade and
resume to the same weights, infer with truncation, export, 3D."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from progressive_bundle import (
    Runs,
    assert_ok,
    check_inference_and_export,
    check_kill_and_resume,
    check_training,
    check_volumes,
    infer,
    run_everything,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return run_everything("stylegan", tmp_path_factory.mktemp("stylegan"))


def test_training_grows_to_the_final_resolution(runs):
    check_training(runs, "stylegan")


def test_killed_mid_fade_resumes_to_the_same_weights(runs):
    check_kill_and_resume(runs)


def test_inference_and_torchscript_export(runs):
    check_inference_and_export(runs, truncation_psi=0.7)


def test_truncation_psi_zero_pulls_samples_together(runs, tmp_path):
    """psi 0 maps every latent to w_avg: only the noise inputs still tell two samples apart, so they differ less
    than two untruncated samples."""
    assert_ok(runs.inferred)
    result = infer(runs.bundle_dir, runs.output_dir / "model.pt", tmp_path, num_samples=2, truncation_psi=0.0)
    assert_ok(result)

    def difference(folder):
        first, second = (np.asarray(Image.open(folder / f"sample_000{i}.png"), np.float64) for i in (0, 1))
        return np.abs(first - second).mean()

    assert difference(tmp_path) < difference(runs.samples_dir)


def test_3d_training_and_inference(runs):
    check_volumes(runs)
