"""Session-wide fixtures: tiny trained bundles made once and shared by the tests that serve or evaluate one."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_ok, bundle_command, bundle_copy, run_command, write_scan

SCAN_SHAPE = (22, 26, 18)
TINY_CONSINGAN = {"num_scales": 3, "max_size": 24, "min_size": 8, "iterations_per_stage": 4, "num_features": 4,
                  "num_layers": 2, "d_steps": 1, "g_steps": 1}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_consingan(tmp_path_factory) -> tuple[Path, Path]:
    """``(bundle, scan)``: a copy of the ConSinGAN bundle with a tiny 3D model in ``models/model.pt``, trained on a
    22 x 26 x 18 NIfTI ``scan`` by ``python -m monai.bundle run training`` (MONAI Label and MONAI Deploy serve it)."""
    root = tmp_path_factory.mktemp("tiny_consingan")
    bundle, scan = bundle_copy("consingan", root), write_scan(root / "studies" / "scan.nii.gz", SCAN_SHAPE)
    config = bundle / "configs" / "train.json"
    assert_ok(run_command(bundle_command("run", "training", config_file=config, image=scan, **TINY_CONSINGAN)))
    return bundle, scan
