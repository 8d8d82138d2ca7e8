"""End-to-end test of the StyleGAN2 bundle, run as a user runs it: ``python -m monai.bundle ...`` in subprocesses on
a copy of the bundle folder, tiny networks, a few small synthetic images: 2D training, resume, inference with
truncation and latent exploration, TorchScript export; 3D training on anisotropic NIfTI volumes and inference; bad
shapes refused in one sentence before anything is written.

Subprocesses run with ``OMP_NUM_THREADS=1``, two at a time.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, assert_ok, describe, in_parallel, loss_iterations, read_model, run_bundle
from PIL import Image

from medgan.networks import StyleGAN2Generator
from medgan.output_manifest import MANIFEST

TINY = {  # seconds per run on a CPU
    "latent_size": 8,
    "w_dim": 8,
    "mapping_layers": 2,
    "max_channels": 8,
    "channel_halving_resolution": 16,
    "batch_size": 4,
    "r1_interval": 2,
    "pl_interval": 2,
    "save_every": 1,
    "sample_every": 1,
    "num_preview_samples": 4,
}
NUM_IMAGES = 8
ITERATIONS_PER_EPOCH = NUM_IMAGES // TINY["batch_size"]
INFERENCE = {"num_samples": 3, "num_latent_points": 12, "interpolation_steps": 3, "batch_size": 4}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess | Path]:
    root = tmp_path_factory.mktemp("stylegan2")
    bundle = root / "bundle"
    shutil.copytree(REPO_ROOT / "bundles" / "stylegan2" / "configs", bundle / "configs")
    train_config, infer_config = bundle / "configs" / "train.json", bundle / "configs" / "inference.json"
    rng = np.random.default_rng(0)
    pngs, volumes = root / "pngs", root / "volumes"
    pngs.mkdir()
    volumes.mkdir()
    ramp = np.linspace(0, 200, 24)[None, :] * np.ones((20, 24))
    for i in range(NUM_IMAGES):
        Image.fromarray((ramp + rng.uniform(0, 55, ramp.shape)).astype(np.uint8), "L").save(pngs / f"{i}.png")
    for i in range(2):
        volume = rng.uniform(0, 1, (16, 24, 32)).astype(np.float32) + np.linspace(0, 2, 32)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(volumes / f"volume_{i}.nii.gz"))
    out2d, out3d = root / "out2d", root / "out3d"
    common2d = {**TINY, "dataset_dir": pngs, "output_dir": out2d, "image_size": 16}
    common3d = {
        **TINY,
        "dataset_dir": volumes,
        "output_dir": out3d,
        "spatial_dims": 3,
        "base_shape": "[2,3,4]",
        "image_size": "[8,12,16]",
        "batch_size": 2,
    }
    results: dict = {"root": root, "bundle": bundle, "out2d": out2d, "out3d": out3d}
    results["train2d"], results["train3d"] = in_parallel(
        lambda: run_bundle("run", "training", config_file=train_config, max_epochs=1, **common2d),
        lambda: run_bundle("run", config_file=train_config, max_epochs=1, **common3d),
    )
    results["resume2d"], results["infer3d"] = in_parallel(
        lambda: run_bundle("run", "training", config_file=train_config, max_epochs=2, **common2d),
        lambda: run_bundle(
            "run",
            "inferring",
            config_file=infer_config,
            ckpt_path=out3d / "model.pt",
            output_dir=root / "samples3d",
            num_samples=2,
            num_latent_points=6,
            interpolation_steps=2,
        ),
    )
    results["infer2d"], results["export"] = in_parallel(
        lambda: run_bundle(
            "run",
            "inferring",
            config_file=infer_config,
            ckpt_path=out2d / "model.pt",
            output_dir=root / "samples2d",
            truncation_psi=0.7,
            seed=3,
            **INFERENCE,
        ),
        lambda: run_bundle(
            "ckpt_export",
            "network_def",
            cwd=bundle,
            filepath=root / "model.ts",
            ckpt_file=out2d / "model.pt",
            meta_file="configs/metadata.json",
            config_file="configs/inference.json",
            ckpt_path=out2d / "model.pt",
        ),
    )
    results["bad_base"], results["bad_proportions"] = in_parallel(
        lambda: run_bundle(
            "run",
            "training",
            config_file=train_config,
            max_epochs=1,
            **{**common2d, "output_dir": root / "bad_base", "spatial_dims": 3, "base_shape": "[4,4]"},
        ),
        lambda: run_bundle(
            "run",
            "training",
            config_file=train_config,
            max_epochs=1,
            **{**common2d, "output_dir": root / "bad_proportions", "base_shape": "[2,8]", "image_size": "[8,32]"},
        ),
    )
    return results


def test_2d_training_writes_a_model_and_resumes(runs):
    assert_ok(runs["train2d"])
    assert_ok(runs["resume2d"])
    out = runs["out2d"]
    for name in ("model.pt", "loss.png", "samples/samples_latest.png"):
        assert (out / name).is_file(), name
    assert "resumed from" in runs["resume2d"].stdout + runs["resume2d"].stderr
    assert loss_iterations(out) == list(range(1, 2 * ITERATIONS_PER_EPOCH + 1))
    header = (out / "losses.csv").read_text().splitlines()[0].split(",")
    assert {"loss_d", "loss_g", "r1_penalty", "pl_penalty"} <= set(header)
    model, meta = read_model(out)
    assert "mapping.w_avg" in model and meta["settings"]["image_shape"] == [16, 16]
    newest = torch.load(sorted((out / "checkpoints").glob("checkpoint_*.pt"))[-1], weights_only=True)
    assert all(torch.equal(model[k], newest["ema"][k]) for k in model)  # model.pt is the EMA generator


def test_2d_inference_with_truncation_and_latent_exploration(runs):
    assert_ok(runs["infer2d"])
    folder = runs["root"] / "samples2d"
    names = sorted(p.name for p in folder.iterdir())
    expected = [f"sample_{i:04d}.png" for i in range(3)]
    figures = ["latent_map.png", "interpolation.png", "style_mixing.png", "sefa_directions.png", "sefa_directions.pt"]
    assert names == sorted([*expected, MANIFEST, "samples.png", *figures])
    with Image.open(folder / "sample_0000.png") as image:
        assert (image.mode, image.size) == ("L", (16, 16))
    with Image.open(folder / "interpolation.png") as image:
        assert image.size[0] > 3 * 16  # three frames side by side
    assert (
        "latent map, an interpolation strip and a style-mixing row" in runs["infer2d"].stdout + runs["infer2d"].stderr
    )


def test_torchscript_export_generates_like_the_ema_generator(runs):
    assert_ok(runs["train2d"])
    assert_ok(runs["export"])
    model, meta = read_model(runs["out2d"])
    settings = meta["settings"]
    eager = StyleGAN2Generator(
        settings["spatial_dims"],
        settings["image_shape"],
        settings["base_shape"],
        settings["channels"],
        settings["latent_size"],
        settings["w_dim"],
        settings["mapping_layers"],
        max_channels=settings["max_channels"],
        channel_halving_resolution=settings["channel_halving_resolution"],
    )
    eager.load_state_dict(model)
    eager.eval()
    scripted = torch.jit.load(str(runs["root"] / "model.ts"), map_location="cpu")
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(0)
        expected = eager(z)
        torch.manual_seed(0)
        actual = scripted(z)
    assert actual.shape == (2, 1, 16, 16)
    torch.testing.assert_close(actual, expected)


def test_3d_anisotropic_training_and_nifti_inference(runs):
    assert_ok(runs["train3d"])
    assert_ok(runs["infer3d"])
    folder = runs["root"] / "samples3d"
    for name in ("sample_0000.nii.gz", "sample_0001.nii.gz"):
        volume = nib.load(folder / name)
        assert volume.shape == (8, 12, 16)
        assert np.isfinite(volume.get_fdata()).all()
    assert (folder / "samples.png").is_file() and (folder / "latent_map.png").is_file()


@pytest.mark.parametrize(
    "case, phrases",
    [("bad_base", ("base_shape [4, 4]", "3D model")), ("bad_proportions", ("padded", "--base_shape"))],
)
def test_bad_shapes_are_refused_in_one_sentence_before_anything_is_written(runs, case, phrases):
    result = runs[case]
    assert result.returncode != 0, describe(result)
    messages = [line for line in result.stderr.splitlines() if line.startswith("medgan:")]
    assert len(messages) == 1 and "Traceback" not in result.stderr, describe(result)
    for phrase in phrases:
        assert phrase in messages[0], describe(result)
    assert not (runs["root"] / case).exists()
