"""Differentiable Augmentation (DiffAugment) in 2D and 3D (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020; the authors' ``DiffAugment_pytorch.py``): every image the discriminator
sees is transformed, always (no probability, no tuning), by the policies named:

- ``color``: brightness (add U(-0.5, 0.5)), saturation (scale the deviation from the channel mean by U(0, 2); a
  no-op on single-channel scans), contrast (scale the deviation from the image mean by U(0.5, 1.5));
- ``translation``: a whole-pixel shift of up to 1/8 of the size along every axis, zero padded;
- ``cutout``: a box of half the size along every axis at a uniform position, set to 0, as in the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from medgan.augment import geometry
from medgan.augment.ada import cutout
from medgan.augment.base import Augmentation

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO, CUTOUT_RATIO = 0.125, 0.5


class DiffAugment(Augmentation):
    """DiffAugment with the given ``policy`` (a subset of :data:`POLICIES`, applied in that order)."""

    def __init__(self, policy: Sequence[str] = POLICIES) -> None:
        super().__init__()
        unknown = sorted(set(policy) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; use any of {', '.join(POLICIES)}.")
        self.policy = tuple(name for name in POLICIES if name in policy)

    @property
    def p(self) -> torch.Tensor:
        return torch.ones(()) if self.policy else torch.zeros(())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) -> same shape."""
        batch_size, device = images.shape[0], images.device
        shape = (batch_size, *[1] * (images.ndim - 1))
        if "color" in self.policy:
            images = images + (torch.rand(shape, device=device) - 0.5)
            channel_mean = images.mean(dim=1, keepdim=True)
            images = (images - channel_mean) * (torch.rand(shape, device=device) * 2) + channel_mean
            mean = images.mean(dim=tuple(range(1, images.ndim)), keepdim=True)
            images = (images - mean) * (torch.rand(shape, device=device) + 0.5) + mean
        if "translation" in self.policy:
            images = translate(images, TRANSLATION_RATIO)
        if "cutout" in self.policy:
            images = cutout(images, CUTOUT_RATIO, fill=0.0)
        return images


def translate(images: torch.Tensor, ratio: float) -> torch.Tensor:
    """Each image shifted by whole pixels, up to ``ratio`` of its size (rounded) along every axis, zero padded."""
    batch_size, n = images.shape[0], images.ndim - 2
    limits = torch.tensor([int(size * ratio + 0.5) for size in images.shape[2:][::-1]], device=images.device)
    shift = torch.floor(torch.rand(batch_size, n, device=images.device) * (2 * limits + 1)) - limits
    return geometry.warp(images, geometry.translation(shift.float()), padding_mode="zeros")
