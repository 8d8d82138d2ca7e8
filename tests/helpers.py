"""What the end-to-end tests share: one way to run ``python -m monai.bundle`` (or any ``python -m``) in a
subprocess, a copy of a bundle folder, small synthetic images, and the checks on a finished process.

Every subprocess runs with ``OMP_NUM_THREADS=1``: the test networks are tiny, and on a loaded two-core machine
OpenMP's threads fighting over the cores made an iteration 70 times slower (0.2 s against 14 s). ``PYTHONPATH``
holds this checkout, so a bundle finds this ``medgan`` from any working directory. Independent runs go two at a time
(:func:`in_parallel`).
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 300
TAIL_CHARS = 3000
WORKERS = 2


def env() -> dict[str, str]:
    """The subprocesses' environment: one OpenMP thread, unbuffered output, this checkout importable."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def python_command(*args: object, **options: object) -> list[str]:
    """``python ARGS --key value ...`` with this interpreter."""
    command = [sys.executable, *map(str, args)]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    return command


def bundle_command(*args: object, **overrides: object) -> list[str]:
    """``python -m monai.bundle ARGS --key value ...``."""
    return python_command("-m", "monai.bundle", *args, **overrides)


def run_command(command: list[str], cwd: Path | None = None, timeout: float = RUN_TIMEOUT_S):
    """Run ``command`` to its end; the completed process with stdout and stderr as text."""
    return subprocess.run(
        command, capture_output=True, encoding="utf-8", errors="replace", cwd=cwd, env=env(), timeout=timeout
    )


def run_bundle(*args: object, cwd: Path | None = None, **overrides: object) -> subprocess.CompletedProcess:
    """``python -m monai.bundle ARGS --key value ...`` in a subprocess, to its end."""
    return run_command(bundle_command(*args, **overrides), cwd=cwd)


def in_parallel(*calls: Callable[[], object], workers: int = WORKERS) -> list:
    """Call each of ``calls`` (independent subprocess runs), ``workers`` at a time; their results in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def tail(text: str) -> str:
    return text[-TAIL_CHARS:]


def describe(result: subprocess.CompletedProcess) -> str:
    return (
        f"exit status {result.returncode} of: {shlex.join(map(str, result.args))}\n"
        f"--- stdout (tail) ---\n{tail(result.stdout)}\n--- stderr (tail) ---\n{tail(result.stderr)}"
    )


def log_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def assert_ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, describe(result)
    return result


def assert_bad_input(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """The run failed with one ``medgan: ...`` sentence on stderr (no traceback) holding ``phrases``, before any
    training iteration; returns the sentence."""
    assert result.returncode != 0, f"expected a failure\n{describe(result)}"
    messages = [line for line in result.stderr.splitlines() if line.startswith("medgan:")]
    assert len(messages) == 1, f"expected one 'medgan:' line on stderr\n{describe(result)}"
    assert "Traceback" not in result.stderr, f"a traceback instead of one sentence\n{describe(result)}"
    for phrase in phrases:
        assert phrase in messages[0], f"{phrase!r} not in the message\n{describe(result)}"
    assert "loss_d" not in log_of(result), f"training iterations ran before the error\n{describe(result)}"
    return messages[0]


def bundle_copy(name: str, folder: Path) -> Path:
    """``folder/<name>``: a copy of ``bundles/<name>`` as a clean checkout has it (no models, outputs or
    evaluations), so a test writes nothing into the repository."""
    copy = folder / name
    ignore = shutil.ignore_patterns("models", "output", "eval", "__pycache__")
    shutil.copytree(REPO_ROOT / "bundles" / name, copy, ignore=ignore)
    return copy


def read_model(folder: Path) -> tuple[dict, dict]:
    """A run's ``model.pt`` (asserted a plain state dict of tensors) and its ``model_settings.json``
    (``bundle``, ``format``, ``model_sha256``, ``settings``)."""
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values()), "model.pt is not a plain state dict"
    return state, json.loads((folder / "model_settings.json").read_text())


def loss_iterations(output_dir: Path) -> list[int]:
    """The iteration column of ``output_dir/losses.csv``."""
    with open(output_dir / "losses.csv", newline="") as f:
        return [int(row["iteration"]) for row in csv.DictReader(f)]


def write_pngs(folder: Path, count: int, mode: str = "L", start: int = 0, shape: tuple[int, int] = (40, 48)) -> Path:
    """``count`` small non-blank PNGs (a gradient plus noise), not square, so padding and resizing run too."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    ramp = np.linspace(0, 200, shape[1])[None, :] * np.ones(shape)
    for i in range(start, start + count):
        array = (ramp + rng.uniform(0, 55, shape)).astype(np.uint8)
        if mode == "RGB":
            array = np.stack([array, array[::-1], array[:, ::-1]], axis=-1)
        Image.fromarray(array, mode).save(folder / f"image_{i:02d}_{mode}.png")
    return folder


def write_volumes(folder: Path, count: int, shape: tuple[int, int, int] = (20, 24, 16), nan: bool = False) -> Path:
    """``count`` tiny NIfTI volumes: a bright ellipsoid on a dark noisy background (1.2 x 1.0 x 1.5 mm voxels)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    ball = sum(axis**2 for axis in grid) < 0.6
    for i in range(count):
        volume = (100.0 * ball + rng.uniform(0, 10, shape)).astype(np.float32)
        if nan:
            volume[shape[0] // 2, shape[1] // 2, shape[2] // 2] = np.nan
        nib.save(nib.Nifti1Image(volume, np.diag([1.2, 1.0, 1.5, 1.0])), folder / f"volume_{i}.nii.gz")
    return folder


def write_scan(path: Path, shape: tuple[int, ...] = (22, 26, 18)) -> Path:
    """A NIfTI 'scan' (a blob with stripes) with 2 mm voxels and an offset origin."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    data = (np.exp(-(grid**2).sum(0) * 2) * 800 + np.sin(grid[0] * 9) * 50).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-20, -30, 10]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


TINY_CONSINGAN = {
    2: {"spatial_dims": 2, "num_scales": 3, "max_size": 24, "min_size": 8, "iterations_per_stage": 2,
        "num_features": 4, "num_layers": 2, "d_steps": 1, "g_steps": 1},
    3: {"spatial_dims": 3, "num_scales": 3, "max_size": 16, "min_size": 8, "iterations_per_stage": 1,
        "num_features": 4, "num_layers": 2, "d_steps": 1, "g_steps": 1},
}  # fmt: skip
"""Tiny ConSinGAN trainings (3 stages of a few iterations) in 2D and 3D, for the end-to-end inference tests."""


def train_tiny_consingan(folder: Path, spatial_dims: int, **overrides: object) -> tuple[Path, Path]:
    """A copy of the ConSinGAN bundle in ``folder`` with a tiny model trained, in this process, on a 2D PNG or a 3D
    NIfTI (:data:`TINY_CONSINGAN` with ``overrides``); returns (bundle, image)."""
    from monai.bundle import run

    bundle = bundle_copy("consingan", folder)
    if spatial_dims == 2:
        image = write_pngs(folder / "image", 1, shape=(20, 24)) / "image_00_L.png"
    else:
        image = write_scan(folder / "scan.nii.gz", (16, 14, 12))
    run("training", config_file=str(bundle / "configs" / "train.json"), bundle_root=str(bundle), image=str(image),
        **{**TINY_CONSINGAN[spatial_dims], **overrides})  # fmt: skip
    return bundle, image
