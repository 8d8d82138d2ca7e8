"""End to end: every bundle's ``evaluate.json`` as a user runs it, merged on top of its ``inference.json``, on a tiny
model trained first with the bundle's ``train.json``.

Runs go two at a time, each with ``OMP_NUM_THREADS=1`` (tiny networks; see tests/test_bundle_dcgan.py).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, TAIL_CHARS, assert_ok, in_parallel, read_model, run_bundle, write_pngs
from PIL import Image
from torch import nn

BUNDLES = ("dcgan", "sngan", "consingan")
NUM_IMAGES = 8
NUM_SAMPLES = 6
TINY_SET_GAN = {"image_size": 64, "num_features": 4, "batch_size": 4, "max_epochs": 1}
TINY_CONSINGAN = {
    "num_scales": 3, "max_size": 24, "min_size": 8, "iterations_per_stage": 4, "num_features": 4, "num_layers": 2,
    "d_steps": 1, "g_steps": 1,
}  # fmt: skip
pytestmark = pytest.mark.slow


def evaluate(bundle_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    configs = [str(bundle_dir / "configs" / name) for name in ("inference.json", "evaluate.json")]
    return run_bundle("run", "evaluating", config_file=repr(configs), **overrides)


def write_volume(path: Path) -> Path:
    """A 22 x 26 x 18 NIfTI 'scan': a bright blob with stripes."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in (22, 26, 18)], indexing="ij"))
    data = (np.exp(-(grid**2).sum(0) * 2) * 800 + np.sin(grid[0] * 9) * 50).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    return path


def write_extractor(path: Path) -> Path:
    """A small randomly initialised 2D TorchScript feature network."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2))
    torch.jit.save(torch.jit.script(network), str(path))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict:
    """Copies of the bundles, the data, a tiny trained model of each bundle, and the evaluations of each."""
    root = tmp_path_factory.mktemp("evaluate")
    bundles = {}
    for name in BUNDLES:
        bundles[name] = root / "bundles" / name
        ignore = shutil.ignore_patterns("models", "output", "eval", "__pycache__")
        shutil.copytree(REPO_ROOT / "bundles" / name, bundles[name], ignore=ignore)
    pngs = write_pngs(root / "pngs", NUM_IMAGES)
    volume = write_volume(root / "scan.nii.gz")
    extractor = write_extractor(root / "features.pt")
    runs = {name: root / "runs" / name for name in BUNDLES}

    def train(name: str):
        config = bundles[name] / "configs" / "train.json"
        data = {"image": volume, **TINY_CONSINGAN} if name == "consingan" else {"dataset_dir": pngs, **TINY_SET_GAN}
        return run_bundle("run", "training", config_file=config, output_dir=runs[name], **data)

    for result in in_parallel(*[lambda name=name: train(name) for name in BUNDLES]):
        assert_ok(result)
    one_png = root / "one_png"
    one_png.mkdir()
    shutil.copy(next(pngs.iterdir()), one_png)
    evals = {name: root / "eval" / name for name in BUNDLES}
    calls = {
        "dcgan": lambda: evaluate(bundles["dcgan"], ckpt_path=runs["dcgan"] / "model.pt", output_dir=evals["dcgan"],
                                  dataset_dir=pngs, num_samples=NUM_SAMPLES, feature_extractor=extractor),
        "sngan": lambda: evaluate(bundles["sngan"], ckpt_path=runs["sngan"] / "model.pt", output_dir=evals["sngan"],
                                  dataset_dir=pngs, num_samples=NUM_SAMPLES),
        "consingan": lambda: evaluate(bundles["consingan"], ckpt_path=runs["consingan"] / "model.pt",
                                      output_dir=evals["consingan"], dataset_dir=volume, num_samples=NUM_SAMPLES),
        "too_few": lambda: evaluate(bundles["dcgan"], ckpt_path=runs["dcgan"] / "model.pt",
                                    output_dir=root / "eval" / "too_few", dataset_dir=one_png),
        "no_data": lambda: evaluate(bundles["sngan"], ckpt_path=runs["sngan"] / "model.pt",
                                    output_dir=root / "eval" / "no_data"),
    }  # fmt: skip
    results = dict(zip(calls, in_parallel(*calls.values())))
    return {"bundles": bundles, "runs": runs, "evals": evals, "results": results, "pngs": pngs, "root": root}


def metrics_of(work: dict, name: str) -> dict:
    assert_ok(work["results"][name])
    return json.loads((work["evals"][name] / "metrics.json").read_text())


def assert_report(folder: Path) -> None:
    report = Image.open(folder / "report.png")
    assert report.format == "PNG" and min(report.size) > 300


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_set_gans_are_evaluated_against_their_training_images(work, name):
    content = metrics_of(work, name)
    assert content["bundle"] == name and content["model"] == str(work["runs"][name] / "model.pt")
    assert content["real"] == {"source": str(work["pngs"]), "count": NUM_IMAGES, "shape": [1, 64, 64]}
    assert content["generated"] == {"count": NUM_SAMPLES, "seed": 0, "shape": [1, 64, 64]}
    expected = {"sliced_wasserstein_distance", "intensity_histogram_distance", "mmd", "diversity_ssim_generated",
                "diversity_ssim_real", "unpaired_psnr", "unpaired_ssim", "unpaired_ms_gmsd", "unpaired_mdsi",
                "unpaired_haarpsi"}  # fmt: skip
    assert expected <= set(content["metrics"])
    for figure, record in content["metrics"].items():
        assert math.isfinite(record["value"]) and record["samples"] and "settings" in record, figure
    swd = content["metrics"]["sliced_wasserstein_distance"]
    assert list(swd["details"]["per_level"]) == ["64x64", "32x32", "16x16"]
    assert_report(work["evals"][name])


def test_a_feature_extractor_adds_fid_kid_and_precision_recall(work):
    content = metrics_of(work, "dcgan")
    assert {"fid", "kid", "precision", "recall"} <= set(content["metrics"])
    assert content["metrics"]["fid"]["settings"]["feature_extractor"] == "features.pt"
    assert "fid" in metrics_of(work, "sngan")["skipped"]  # no --feature_extractor there


def test_consingan_is_evaluated_against_its_training_image_per_stage(work):
    content = metrics_of(work, "consingan")
    finest = read_model(work["runs"]["consingan"])[1]["settings"]["stage_shapes"][-1]
    assert content["real"]["count"] == 1 and content["real"]["shape"] == [1, *finest]
    assert content["generated"]["count"] == NUM_SAMPLES
    metrics = content["metrics"]
    assert {"singan_diversity", "diversity_ssim_generated", "intensity_histogram_distance"} <= set(metrics)
    assert len(metrics["reconstruction_mse"]["details"]["per_stage"]) == 3
    assert len(metrics["stage_patch_swd"]["details"]["per_stage"]) == 3
    assert content["skipped"]["unpaired_psnr"] == "piq's measures are 2D only"
    assert_report(work["evals"]["consingan"])


def test_too_few_real_images_stop_with_one_sentence(work):
    result = work["results"]["too_few"]
    assert result.returncode != 0
    messages = [line for line in result.stderr.splitlines() if line.startswith("medgan:")]
    assert len(messages) == 1 and "the real set has 1 image(s), too few" in messages[0], result.stderr[-TAIL_CHARS:]
    assert "Traceback" not in result.stderr


def test_a_model_of_the_users_data_needs_the_images_to_compare_with(work):
    """The model files record no data path: evaluating a model trained on the user's images without
    ``--dataset_dir`` is one sentence, and nothing is written."""
    result = work["results"]["no_data"]
    assert result.returncode != 0
    messages = [line for line in result.stderr.splitlines() if line.startswith("medgan:")]
    assert len(messages) == 1 and "set --dataset_dir" in messages[0], result.stderr[-TAIL_CHARS:]
    assert not (work["root"] / "eval" / "no_data").exists()


@pytest.mark.parametrize("name", BUNDLES)
def test_every_bundle_has_the_same_evaluate_keys(work, name):
    config = json.loads((REPO_ROOT / "bundles" / name / "configs" / "evaluate.json").read_text())
    assert {"num_samples", "dataset_dir", "feature_extractor", "output_dir", "evaluating", "run"} <= set(config)
    assert config["output_dir"] == "$@bundle_root + '/eval'" and config["run"] == "@evaluating"
