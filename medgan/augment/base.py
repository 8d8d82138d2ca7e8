"""What the trainers ask of an augmentation, and the one that does nothing."""

from __future__ import annotations

import torch
from torch import nn

AXIS_NAMES = {
    2: {"left-right": 1, "anterior-posterior": 0},  # (H, W) pictures: columns run left-right
    3: {"left-right": 0, "anterior-posterior": 1, "inferior-superior": 2},  # RAS volumes (medgan.data)
}
"""The spatial axis of each anatomical direction in the images medgan's loaders make (2D slices are pictures with
the patient's left-right along the columns; volumes are reoriented to RAS)."""


def flip_axes(flips, spatial_dims: int) -> tuple[int, ...]:
    """Spatial axes (0 = first after the channels) of the named directions, e.g. ``["left-right"]`` -> ``(1,)`` in
    2D; an unknown name is a ``ValueError`` naming the ones that exist for ``spatial_dims``."""
    names = AXIS_NAMES[spatial_dims]
    unknown = [name for name in flips if name not in names]
    if unknown:
        raise ValueError(f"cannot flip along {unknown[0]!r} in {spatial_dims}D; use any of {', '.join(names)}.")
    return tuple(names[name] for name in flips)


class Augmentation(nn.Module):
    """Transforms every image the discriminator sees, reals and fakes alike, differentiably.

    ``forward(images)`` (B, C, *spatial) -> same shape; ``observe(real_logits)`` is given the discriminator's
    logits on augmented reals in every main discriminator step; ``step(batch_size)`` is called once per iteration
    with the global batch size. ``p`` is the strength logged with the losses (``augment_p``). State that must
    survive a resume lives in buffers.
    """

    def observe(self, real_logits: torch.Tensor) -> None:
        """Record the discriminator's logits on augmented real images (an adaptive augmentation's signal)."""

    def step(self, batch_size: int) -> None:
        """The end of one iteration of ``batch_size`` real images (all processes together)."""

    @property
    def p(self) -> torch.Tensor:
        """The probability each transform is applied with, a 0-d tensor."""
        return torch.zeros(())


class NoAugmentation(Augmentation):
    """The identity (``augment none``)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images
