"""The one way a training handler draws preview images: the network in eval mode (MONAI's ``eval_mode``: no
gradients, training mode restored after) and torch's random stream seeded for the preview and restored after it, so
a generator that draws its own noise (StyleGAN2's noise inputs, ConSinGAN's later stages) shows the same preview every
time and the training run is the same with or without previews."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.networks.utils import eval_mode

from medgan.utils import seeded

__all__ = ["preview_images"]


def preview_images(network: torch.nn.Module, generate: Callable[[], torch.Tensor], seed: int) -> torch.Tensor:
    """``generate()`` (images (B, C, *spatial) from ``network``) in eval mode under the seeded random stream; the
    images as float32 on the CPU."""
    device = next(network.parameters()).device
    with eval_mode(network), seeded(seed, device):
        return generate().float().cpu()
