"""A trained StyleGAN2 run for the diagnostic scripts: its networks, built from the run folder's
``model_settings.json`` and loaded from its newest checkpoint, and the ``.npy`` slices ``benchmarks/quality.py``
writes, resized to the model's shape."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # medgan even when not installed

from medgan.handlers.checkpoint import checkpoint_files  # noqa: E402
from medgan.model_file import read_settings_file  # noqa: E402
from medgan.networks import StyleGAN2Discriminator, StyleGAN2Generator  # noqa: E402


def load_run(run_dir: Path) -> tuple[dict, StyleGAN2Generator, StyleGAN2Discriminator]:
    """(settings, generator, critic) of a StyleGAN2 bundle's output folder, in eval mode, on the CPU. The critic's
    minibatch group is the bundle's default (4). Raises FileNotFoundError when the folder has no checkpoint and
    :class:`medgan.errors.BadInputError` when it holds another bundle's model."""
    checkpoints = checkpoint_files(run_dir / "checkpoints")
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoints in {run_dir / 'checkpoints'}")
    settings = read_settings_file(run_dir / "model_settings.json", "stylegan2")["settings"]
    common = {"base_shape": settings["base_shape"], "max_channels": settings["max_channels"],
              "channel_halving_resolution": settings["channel_halving_resolution"]}  # fmt: skip
    critic = StyleGAN2Discriminator(settings["spatial_dims"], settings["image_shape"],
                                    in_channels=settings["channels"], **common)  # fmt: skip
    generator = StyleGAN2Generator(settings["spatial_dims"], settings["image_shape"], out_channels=settings["channels"],
                                   latent_size=settings["latent_size"], w_dim=settings["w_dim"],
                                   mapping_layers=settings["mapping_layers"], **common)  # fmt: skip
    state = torch.load(checkpoints[-1], weights_only=True, map_location="cpu")
    critic.load_state_dict(state["discriminator"])
    generator.load_state_dict(state["generator"])
    return settings, generator.eval(), critic.eval()


def load_slices(folder: Path, shape: list[int]) -> torch.Tensor:
    """The folder's ``.npy`` 2D slices as (N, 1, *shape), resized by area averaging. Raises FileNotFoundError when
    there are none."""
    files = sorted(folder.glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"no .npy slices in {folder}")
    slices = torch.stack([torch.from_numpy(np.load(path)).float() for path in files])
    return F.interpolate(slices.reshape(len(files), 1, *slices.shape[-2:]), size=shape, mode="area")
