"""End-to-end runs of a progressive bundle (``pggan``, ``stylegan``) as a user runs them: ``python -m monai.bundle``
in subprocesses, on a copy of the bundle folder, with a tiny schedule (4 -> 8 -> 16 px, a few images per stage),
tiny networks and small synthetic images. Shared by ``test_bundle_pggan.py`` and ``test_bundle_stylegan.py``.

Every subprocess runs with ``OMP_NUM_THREADS=1`` (see ``test_bundle_dcgan.py``) and ``PYTHONPATH`` at this checkout,
so the bundle finds this ``medgan`` from any working directory; independent runs go two at a time.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 300
TAIL_CHARS = 3000
LATENT = 8
ITERATIONS = 4 + 4 + 40  # 8 images per stage at batch 2; the last stage is longer so a run can be killed mid-fade
KILL_AFTER = 12  # the first checkpoint: the 4th of 20 fade-in iterations of the 16 px stage
TINY = {
    "final_resolution": 16,
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


def env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def command(*args: object, **overrides: object) -> list[str]:
    line = [sys.executable, "-m", "monai.bundle", *map(str, args)]
    for key, value in overrides.items():
        line += [f"--{key}", str(value)]
    return line


def run(*args: object, cwd: Path | None = None, **overrides: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(*args, **overrides),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        cwd=cwd,
        env=env(),
        timeout=RUN_TIMEOUT_S,
    )


def in_parallel(*calls: Callable[[], object]) -> list:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def describe(result: subprocess.CompletedProcess) -> str:
    return (
        f"exit status {result.returncode} of: {' '.join(map(str, result.args))}\n"
        f"--- stdout ---\n{result.stdout[-TAIL_CHARS:]}\n--- stderr ---\n{result.stderr[-TAIL_CHARS:]}"
    )


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, describe(result)


def training_overrides(bundle: str, **overrides: object) -> dict:
    return {**TINY, **EXTRA[bundle], **overrides}


def train(bundle_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    overrides = training_overrides(bundle_dir.name, **overrides)
    return run("run", "training", config_file=bundle_dir / "configs" / "train.json", **overrides)


def infer(bundle_dir: Path, model: Path, output_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    config = bundle_dir / "configs" / "inference.json"
    return run("run", "inferring", config_file=config, ckpt_path=model, output_dir=output_dir, **overrides)


def write_pngs(folder: Path, count: int = 8, shape: tuple[int, int] = (20, 24)) -> Path:
    """Small non-square PNGs: a gradient plus noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, shape[1])[None, :] * np.ones(shape)
    for i in range(count):
        Image.fromarray((ramp + rng.uniform(0, 55, shape)).astype(np.uint8), "L").save(folder / f"{i:02d}.png")
    return folder


def write_volumes(folder: Path, count: int = 4, shape: tuple[int, int, int] = (12, 14, 10)) -> Path:
    """Tiny NIfTI volumes: a bright ellipsoid on a dark noisy background."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    ball = sum(axis**2 for axis in grid) < 0.6
    for i in range(count):
        volume = (100.0 * ball + rng.uniform(0, 10, shape)).astype(np.float32)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / f"volume_{i}.nii.gz")
    return folder


def loss_iterations(output_dir: Path) -> list[int]:
    with open(output_dir / "losses.csv", newline="") as f:
        return [int(row["iteration"]) for row in csv.DictReader(f)]


def model_weights(path: Path) -> dict[str, torch.Tensor]:
    model = torch.load(path, map_location="cpu", weights_only=True)
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in model[net].items()}


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
    line = command("run", "training", config_file=bundle_dir / "configs" / "train.json", **overrides)
    checkpoint = output_dir / "checkpoints" / f"checkpoint_{KILL_AFTER}.pt"
    process = subprocess.Popen(line, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while process.poll() is None and not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    resumed = subprocess.run(
        line, capture_output=True, encoding="utf-8", errors="replace", env=env(), timeout=RUN_TIMEOUT_S
    )
    return process.returncode, resumed


def run_everything(bundle: str, root: Path) -> Runs:
    """Copy the bundle, make data, and run: a 2D training; the same killed mid-fade and resumed; inference and
    TorchScript export of the 2D model; a 3D training and inference on NIfTI volumes (``test_metadata.py`` verifies
    every bundle's metadata)."""
    bundle_dir = root / bundle
    shutil.copytree(REPO_ROOT / "bundles" / bundle, bundle_dir, ignore=shutil.ignore_patterns("models", "output"))
    (bundle_dir / "models").mkdir()
    pngs, volumes = write_pngs(root / "pngs"), write_volumes(root / "volumes")
    output_dir, killed_dir = root / "out", root / "killed"

    trained, (killed_returncode, resumed) = in_parallel(
        lambda: train(bundle_dir, dataset_dir=pngs, output_dir=output_dir),
        lambda: killed_then_resumed(bundle_dir, pngs, killed_dir),
    )

    def export() -> subprocess.CompletedProcess:
        shutil.copy2(output_dir / "model.pt", bundle_dir / "models" / "model.pt")
        return run(
            "ckpt_export", "network_def", cwd=bundle_dir, filepath="models/model.ts", ckpt_file="models/model.pt",
            meta_file="configs/metadata.json", config_file="configs/inference.json", key_in_ckpt="generator",
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
    model = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert model["bundle"] == bundle
    assert int(model["generator"]["stage"]) == 2 and float(model["generator"]["alpha"]) == 1.0
    bar = runs.trained.stdout + runs.trained.stderr
    assert "res=8" in bar and "alpha=0.5" in bar and f"images={2 * ITERATIONS}" in bar, describe(runs.trained)


def check_kill_and_resume(runs: Runs) -> None:
    assert_ok(runs.trained)
    assert runs.killed_returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert_ok(runs.resumed)
    assert "resumed from" in runs.resumed.stdout + runs.resumed.stderr, describe(runs.resumed)
    assert loss_iterations(runs.killed_output_dir) == list(range(1, ITERATIONS + 1))
    expected, actual = model_weights(runs.output_dir / "model.pt"), model_weights(runs.killed_output_dir / "model.pt")
    assert [name for name in expected if not torch.equal(expected[name], actual[name])] == []


def check_inference_and_export(runs: Runs, **call_kwargs: object) -> None:
    assert_ok(runs.inferred)
    names = sorted(p.name for p in runs.samples_dir.iterdir())
    assert names == ["sample_0000.png", "sample_0001.png", "sample_0002.png", "samples.png"]
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
    assert names == ["sample_0000.nii.gz", "sample_0001.nii.gz", "samples.png"]
    volume = nib.load(runs.volume_samples_dir / "sample_0000.nii.gz")
    assert volume.shape == (16, 16, 16) and np.isfinite(volume.get_fdata()).all()
