"""Distributed training of the DCGAN, SNGAN, ConSinGAN, StyleGAN2 and StyleGAN bundles on CPU: ``torchrun
--nproc_per_node=2 -m monai.bundle run training`` with ``train.json`` and ``multi_gpu_train.json`` (gloo backend),
on a bundle copy.

torchrun is started as ``python -m torch.distributed.run`` (what the ``torchrun`` script runs) so the test uses
this interpreter, with ``OMP_NUM_THREADS=1`` so the two processes do not fight over two cores.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, describe, read_model, run_command
from PIL import Image

from medgan.networks import DCGANDiscriminator, DCGANGenerator

BUNDLES = ("dcgan", "sngan")
NUM_PROCESSES = 2
NUM_IMAGES = 8
BATCH_SIZE = 2
MAX_EPOCHS = 2
ITERATIONS_PER_EPOCH = NUM_IMAGES // NUM_PROCESSES // BATCH_SIZE  # each process trains on its own half
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_training(bundle_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    configs = [str(bundle_dir / "configs" / name) for name in ("train.json", "multi_gpu_train.json")]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={NUM_PROCESSES}",
        f"--master_port={free_port()}",
        "-m",
        "monai.bundle",
        "run",
        "training",
        "--config_file",
        repr(configs),
    ]
    for key, value in overrides.items():
        command += [f"--{key}", str(value)]
    return run_command(command)


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pngs")
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 48)[None, :] * np.ones((40, 48))
    for i in range(NUM_IMAGES):
        Image.fromarray((ramp + rng.uniform(0, 55, ramp.shape)).astype(np.uint8), "L").save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture(scope="module", params=BUNDLES)
def bundle_dir(request, tmp_path_factory) -> Path:
    """A copy of the bundle folder without models or outputs, so nothing is written into the repo."""
    copy = tmp_path_factory.mktemp("bundle") / request.param
    ignore = shutil.ignore_patterns("models", "output", "__pycache__")
    shutil.copytree(REPO_ROOT / "bundles" / request.param, copy, ignore=ignore)
    return copy


def test_torchrun_two_processes(bundle_dir, png_dir, tmp_path):
    bundle, output_dir = bundle_dir.name, tmp_path / "out"
    result = torchrun_training(
        bundle_dir,
        dataset_dir=png_dir,
        output_dir=output_dir,
        image_size=64,
        num_features=4,
        batch_size=BATCH_SIZE,
        max_epochs=MAX_EPOCHS,
        save_every=1,
        sample_every=1,
        num_preview_samples=4,
    )
    assert result.returncode == 0, describe(result)

    with open(output_dir / "losses.csv", newline="") as f:
        iterations = [int(row["iteration"]) for row in csv.DictReader(f)]
    assert iterations == list(range(1, MAX_EPOCHS * ITERATIONS_PER_EPOCH + 1)), describe(result)

    events = sorted(p.name for p in (output_dir / "tensorboard").iterdir())
    assert len(events) == 1 and events[0].startswith("events.out.tfevents."), events
    checkpoints = sorted(p.name for p in (output_dir / "checkpoints").glob("checkpoint_*"))  # not the run's .lock
    assert checkpoints == [f"checkpoint_{i * ITERATIONS_PER_EPOCH}.pt" for i in range(1, MAX_EPOCHS + 1)]
    assert (output_dir / "samples" / "samples_latest.png").is_file()

    model, meta = read_model(output_dir)
    assert meta["bundle"] == bundle
    settings = meta["settings"]
    shape = {"spatial_dims": settings["spatial_dims"], "image_size": settings["image_size"]}
    width = settings["num_features"]
    generator = DCGANGenerator(**shape, latent_size=settings["latent_size"], num_features=width)
    generator.load_state_dict(model)  # plain keys: no "module." prefix from DistributedDataParallel
    newest = torch.load(output_dir / "checkpoints" / checkpoints[-1], map_location="cpu", weights_only=True)
    discriminator = DCGANDiscriminator(**shape, num_features=width, spectral_norm=bundle == "sngan")
    discriminator.load_state_dict(newest["discriminator"])
    with torch.no_grad():
        images = generator.eval()(torch.randn(2, settings["latent_size"]))
    assert images.shape == (2, 1, 64, 64)
    assert torch.isfinite(images).all()


def test_consingan_torchrun_replicas_of_one_image(tmp_path):
    """ConSinGAN's DDP path re-wraps the generator at every stage (it grows); both replicas must finish all stages."""
    bundle_dir = tmp_path / "consingan"
    shutil.copytree(REPO_ROOT / "bundles" / "consingan", bundle_dir, ignore=shutil.ignore_patterns("models", "output"))
    image = tmp_path / "slice.png"
    Image.fromarray((np.add.outer(np.arange(40), np.arange(30)) % 17 * 15).astype(np.uint8)).save(image)
    output_dir = tmp_path / "out"
    result = torchrun_training(
        bundle_dir, image=image, spatial_dims=2, output_dir=output_dir, num_scales=3, max_size=24, min_size=8,
        iterations_per_stage=3, num_features=4, num_layers=2, d_steps=1, g_steps=1,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    model, meta = read_model(output_dir)
    assert meta["bundle"] == "consingan" and len(meta["settings"]["stage_shapes"]) == 3
    assert not any(key.startswith("module.") for key in model)
    assert sorted(p.name for p in (output_dir / "samples").iterdir()) == ["stage_0.png", "stage_1.png", "stage_2.png"]


def test_stylegan2_torchrun_with_lazy_regularisation(png_dir, tmp_path):
    """StyleGAN2's R1 and path-length steps (every 2nd iteration here) run under DDP in both processes."""
    bundle_dir = tmp_path / "stylegan2"
    shutil.copytree(REPO_ROOT / "bundles" / "stylegan2", bundle_dir, ignore=shutil.ignore_patterns("models", "output"))
    output_dir = tmp_path / "out"
    result = torchrun_training(
        bundle_dir, dataset_dir=png_dir, output_dir=output_dir, image_size=16, latent_size=8, w_dim=8,
        mapping_layers=2, max_channels=8, channel_halving_resolution=16, batch_size=BATCH_SIZE, max_epochs=MAX_EPOCHS,
        r1_interval=2, pl_interval=2, save_every=1, sample_every=1, num_preview_samples=4,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    with open(output_dir / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["iteration"]) for row in rows] == list(range(1, MAX_EPOCHS * ITERATIONS_PER_EPOCH + 1))
    model, meta = read_model(output_dir)
    assert meta["bundle"] == "stylegan2"
    assert model and not any(key.startswith("module.") for key in model)


def test_stylegan_progressive_torchrun(png_dir, tmp_path):
    """The progressive schedule counts images over both processes: 3 stages x 8 images at 2 x 2 per iteration."""
    bundle_dir = tmp_path / "stylegan"
    shutil.copytree(REPO_ROOT / "bundles" / "stylegan", bundle_dir, ignore=shutil.ignore_patterns("models", "output"))
    output_dir = tmp_path / "out"
    result = torchrun_training(
        bundle_dir, dataset_dir=png_dir, output_dir=output_dir, image_size=16, max_channels=4,
        channel_halving_resolution=8, latent_size=8, w_dim=8, batch_size=BATCH_SIZE, images_per_stage=8,
        save_every_iterations=2, sample_every_iterations=0, num_preview_samples=2, log_every=1,
    )  # fmt: skip
    assert result.returncode == 0, describe(result)
    with open(output_dir / "losses.csv", newline="") as f:
        iterations = [int(row["iteration"]) for row in csv.DictReader(f)]
    assert iterations == list(range(1, 3 * 8 // (NUM_PROCESSES * BATCH_SIZE) + 1))
    model, meta = read_model(output_dir)
    assert meta["bundle"] == "stylegan"
    assert not any(key.startswith("module.") for key in model)
