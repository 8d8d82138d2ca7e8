"""MONAI Deploy: the generation behind the operators (:mod:`medgan.serving`, runs without the SDK) on a tiny trained
ConSinGAN bundle and a DCGAN export, and the example application (``apps/monai_deploy/app.py``) run end to end when
``monai-deploy-app-sdk`` (Holoscan) is installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import SCAN_SHAPE
from helpers import env
from monai.bundle import ckpt_export

from medgan.errors import BadInputError
from medgan.serving import BundleGenerator, TorchScriptGenerator

REPO = Path(__file__).resolve().parents[1]
SDK_MISSING = importlib.util.find_spec("monai.deploy") is None
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tiny_consingan) -> tuple[Path, Path]:
    """The session's tiny ConSinGAN bundle, exported to TorchScript (``ckpt_export``, in-process), and its scan."""
    bundle, scan = tiny_consingan
    models, configs = bundle / "models", bundle / "configs"
    ckpt_export("network_def", filepath=str(models / "model.ts"), ckpt_file=str(models / "model.pt"),
                meta_file=str(configs / "metadata.json"), config_file=str(configs / "inference.json"),
                bundle_root=str(bundle))  # fmt: skip
    return bundle, scan


@pytest.fixture(scope="module")
def bundle(trained) -> Path:
    return trained[0]


@pytest.fixture(scope="module")
def scan(trained) -> Path:
    return trained[1]


def finest(bundle: Path) -> list[int]:
    return json.loads((bundle / "models" / "model_settings.json").read_text())["settings"]["stage_shapes"][-1]


def test_exported_consingan_samples_from_the_latent_its_metadata_describes(bundle):
    generator = TorchScriptGenerator(bundle / "models" / "model.ts", bundle / "configs" / "metadata.json")
    samples = generator.sample(3, seed=1)
    assert samples.shape == (3, 1, *finest(bundle))
    assert samples.abs().max() <= 1
    torch.testing.assert_close(generator.sample(3, seed=1), samples)
    assert not torch.equal(generator.sample(3, seed=2), samples)


def test_harmonisation_comes_back_on_the_input_grid(bundle, scan):
    generator = BundleGenerator(bundle)
    image, affine = generator.harmonise(scan, start_stage=1, seed=0)
    assert image.shape == (1, *SCAN_SHAPE) and image.abs().max() <= 1
    np.testing.assert_allclose(affine, nib.load(scan).affine, atol=1e-5)
    again, _ = generator.harmonise(scan, start_stage=1, seed=0)
    torch.testing.assert_close(again, image)
    with pytest.raises(BadInputError, match="no models/model.pt"):
        BundleGenerator(REPO / "bundles" / "consingan" / "configs")


@pytest.mark.skipif(SDK_MISSING, reason="monai-deploy-app-sdk (Holoscan) is not installed; see README, MONAI Deploy")
def test_deploy_application_writes_samples_and_the_harmonised_image(bundle, scan, tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "apps" / "monai_deploy" / "app.py"), "-m", str(bundle), "-i", str(scan),
         "-o", str(tmp_path / "out"), "--num_samples", "2", "--start_stage", "1"],
        capture_output=True, encoding="utf-8", errors="replace", env=env(), timeout=300,
    )  # fmt: skip
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-2000:]
    samples = sorted((tmp_path / "out" / "samples").glob("sample_*.nii.gz"))
    assert len(samples) == 2 and list(nib.load(samples[0]).shape) == finest(bundle)
    harmonised = nib.load(tmp_path / "out" / "harmonised" / "harmonised_0000.nii.gz")
    assert harmonised.shape == SCAN_SHAPE
    np.testing.assert_allclose(harmonised.affine, nib.load(scan).affine, atol=1e-4)
    low, high = BundleGenerator(bundle).settings["intensity_range"]
    data = harmonised.get_fdata()
    assert low - 1e-3 <= data.min() and data.max() <= high + 1e-3 and data.max() > 1.5  # the scan's units
