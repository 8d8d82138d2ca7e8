"""End-to-end runs of a progressive bundle (``pggan``, ``stylegan``) as a user runs them: ``python -m monai.bundle``
in subprocesses, on a copy of the bundle folder, with a tiny schedule (4 -> 8 -> 16 px, a few images per stage),
tiny networks and small synthetic images. Shared by ``test_bundle_pggan.py`` and ``test_bundle_stylegan.py``.

Subprocess settings: tests/helpers.py.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from helpers import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    assert_ok,
    bundle_command,
    describe,
    env,
    in_parallel,
    loss_iterations,
    read_model,
    run_bundle,
    run_command,
    write_pngs,
    write_volumes,
)
from PIL import Image

from medgan.output_manifest import MANIFEST

LATENT = 8
ITERATIONS = 4 + 4 + 40  # 8 images per stage at batch 2; the last stage is longer so a run can be killed mid-fade
KILL_AFTER = 12  # the first checkpoint: the 4th of 20 fade-in iterations of the 16 px stage
TINY = {
    "image_size": 16,
    "max_channels": 4,
    "channel_halving_resolution": 8,
    "latent_size": LATENT,
    "batch_size": 2,
    "batch_size_per_resolution": "{}",
    "images_per_stage": 8,
    "images_per_stage_per_resolution": "{'16': 80}",
    "save_every_iterations": KILL_AFTER,
    "sample_every_iterations": 0,
    "num_preview_samples": 2,
    "log_every": 1,
}
EXTRA = {"pggan": {}, "stylegan": {"w_dim": LATENT}}


def training_overrides(bundle: str, **overrides: object) -> dict:
    return {**TINY, **EXTRA[bundle], **overrides}


def train(bundle_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    overrides = training_overrides(bundle_dir.name, **overrides)
    return run_bundle("run", "training", config_file=bundle_dir / "configs" / "train.json", **overrides)


def infer(bundle_dir: Path, model: Path, output_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    config = bundle_dir / "configs" / "inference.json"
    return run_bundle("run", "inferring", config_file=config, ckpt_path=model, output_dir=output_dir, **overrides)


def model_weights(output_dir: Path) -> dict[str, torch.Tensor]:
    """The EMA generator of ``model.pt`` and the raw generator and critic of the run's newest checkpoint."""
    weights = {f"model.{k}": v for k, v in read_model(output_dir)[0].items()}
    newest = max((output_dir / "checkpoints").glob("checkpoint_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    state = torch.load(newest, map_location="cpu", weights_only=True)
    weights.update({f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in state[net].items()})
    return weights


@dataclass
class Runs:
    """Everything one bundle's tests look at, run once per module."""

    bundle_dir: Path
    output_dir: Path  # the uninterrupted 2D run
    trained: subprocess.CompletedProcess
    killed_output_dir: Path
    killed_returncode: int
    resumed: subprocess.CompletedProcess
    samples_dir: Path
    inferred: subprocess.CompletedProcess
    exported: subprocess.CompletedProcess
    volume_output_dir: Path
    volume_trained: subprocess.CompletedProcess
    volume_samples_dir: Path
    volume_inferred: subprocess.CompletedProcess | None


def killed_then_resumed(bundle_dir: Path, data: Path, output_dir: Path) -> tuple[int, subprocess.CompletedProcess]:
    """SIGKILL a training once its first checkpoint (mid-fade) exists, then run the same command again."""
    overrides = training_overrides(bundle_dir.name, dataset_dir=data, output_dir=output_dir)
    line = bundle_command("run", "training", config_file=bundle_dir / "configs" / "train.json", **overrides)
    checkpoint = output_dir / "checkpoints" / f"checkpoint_{KILL_AFTER}.pt"
    process = subprocess.Popen(line, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while process.poll() is None and not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    resumed = run_command(line)
    return process.returncode, resumed


def run_everything(bundle: str, root: Path) -> Runs:
    """Copy the bundle, make data, and run: a 2D training; the same killed mid-fade and resumed; inference and
    TorchScript export of the 2D model; a 3D training and inference on NIfTI volumes (``test_metadata.py`` verifies
    every bundle's metadata)."""
    bundle_dir = root / bundle
    shutil.copytree(REPO_ROOT / "bundles" / bundle, bundle_dir, ignore=shutil.ignore_patterns("models", "output"))
    (bundle_dir / "models").mkdir()
    pngs, volumes = write_pngs(root / "pngs", 8, shape=(20, 24)), write_volumes(root / "volumes", 4, shape=(12, 14, 10))
    output_dir, killed_dir = root / "out", root / "killed"

    trained, (killed_returncode, resumed) = in_parallel(
        lambda: train(bundle_dir, dataset_dir=pngs, output_dir=output_dir),
        lambda: killed_then_resumed(bundle_dir, pngs, killed_dir),
    )

    def export() -> subprocess.CompletedProcess:
        for name in ("model.pt", "model_settings.json"):
            shutil.copy2(output_dir / name, bundle_dir / "models" / name)
        return run_bundle(
            "ckpt_export", "network_def", cwd=bundle_dir, filepath="models/model.ts", ckpt_file="models/model.pt",
            meta_file="configs/metadata.json", config_file="configs/inference.json",
        )  # fmt: skip

    def volume_run() -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess | None]:
        training = train(
            bundle_dir, dataset_dir=volumes, output_dir=root / "out3d", spatial_dims=3,
            images_per_stage_per_resolution="{}",
        )  # fmt: skip
        if training.returncode != 0:
            return training, None
        return training, infer(bundle_dir, root / "out3d" / "model.pt", root / "samples3d", num_samples=2)

    def infer_and_export() -> tuple:
        if trained.returncode != 0:
            return trained, trained
        return infer(bundle_dir, output_dir / "model.pt", root / "samples", num_samples=3), export()

    (inferred, exported), (volume_trained, volume_inferred) = in_parallel(infer_and_export, volume_run)
    return Runs(
        bundle_dir, output_dir, trained, killed_dir, killed_returncode, resumed, root / "samples", inferred, exported,
        root / "out3d", volume_trained, root / "samples3d", volume_inferred,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# the checks both bundle test modules run


def check_training(runs: Runs, bundle: str) -> None:
    assert_ok(runs.trained)
    out = runs.output_dir
    for name in ("model.pt", "loss.png", "losses.csv", "samples/samples_latest.png"):
        assert (out / name).is_file(), f"no {name}\n{describe(runs.trained)}"
    previews = sorted(p.name for p in (out / "samples").glob("resolution_*.png"))
    assert previews == ["resolution_0004.png", "resolution_0008.png", "resolution_0016.png"]
    assert loss_iterations(out) == list(range(1, ITERATIONS + 1))
    model, meta = read_model(out)
    assert meta["bundle"] == bundle
    assert int(model["stage"]) == 2 and float(model["alpha"]) == 1.0  # the EMA generator, grown and faded in


def check_kill_and_resume(runs: Runs) -> None:
    assert_ok(runs.trained)
    assert runs.killed_returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert_ok(runs.resumed)
    assert "resumed from" in runs.resumed.stdout + runs.resumed.stderr, describe(runs.resumed)
    assert loss_iterations(runs.killed_output_dir) == list(range(1, ITERATIONS + 1))
    expected, actual = model_weights(runs.output_dir), model_weights(runs.killed_output_dir)
    assert [name for name in expected if not torch.equal(expected[name], actual[name])] == []


def check_inference_and_export(runs: Runs, **call_kwargs: object) -> None:
    assert_ok(runs.inferred)
    names = sorted(p.name for p in runs.samples_dir.iterdir())
    assert names == [MANIFEST, "sample_0000.png", "sample_0001.png", "sample_0002.png", "samples.png"]
    with Image.open(runs.samples_dir / "sample_0000.png") as image:
        assert image.size == (16, 16)
    assert_ok(runs.exported)
    scripted = torch.jit.load(str(runs.bundle_dir / "models" / "model.ts"), map_location="cpu")
    with torch.no_grad():
        images = scripted(torch.randn(2, LATENT), **call_kwargs)
    assert images.shape == (2, 1, 16, 16) and torch.isfinite(images).all()


def check_volumes(runs: Runs) -> None:
    assert_ok(runs.volume_trained)
    assert runs.volume_inferred is not None
    assert_ok(runs.volume_inferred)
    names = sorted(p.name for p in runs.volume_samples_dir.iterdir())
    assert names == [MANIFEST, "sample_0000.nii.gz", "sample_0001.nii.gz", "samples.png"]
    volume = nib.load(runs.volume_samples_dir / "sample_0000.nii.gz")
    assert volume.shape == (16, 16, 16) and np.isfinite(volume.get_fdata()).all()
