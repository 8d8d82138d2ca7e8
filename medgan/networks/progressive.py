"""What the progressively grown networks (PGGAN, StyleGAN) share: stage shapes, widths and the fade-in state.

Karras, Aila, Laine and Lehtinen, "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018 (arXiv:1710.10196), Sec. 2 and Fig. 2. A network is built with all its stages; stage ``s`` works at
``base_shape * 2**s`` per axis. Two buffers say how much of it is in use: ``stage`` (the newest active stage) and
``alpha`` (how far that stage has faded in, 0..1). They are part of the state dict, so a checkpoint or a model
file knows the resolution it was trained to, and TorchScript export needs nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from medgan.layers.equalized import EqualizedConv
from medgan.layers.resampling import upsample2

__all__ = ["ProgressiveGenerator", "ProgressiveNetwork", "stage_channels", "stage_shapes"]


def stage_shapes(base_shape: Sequence[int], num_stages: int) -> list[tuple[int, ...]]:
    """Spatial shape of every stage, coarsest first: ``base_shape * 2**s`` per axis."""
    return [tuple(int(size) * 2**stage for size in base_shape) for stage in range(num_stages)]


def stage_channels(
    base_shape: Sequence[int], num_stages: int, max_channels: int = 512, channel_halving_resolution: int = 64
) -> list[int]:
    """Feature maps of every stage: ``max_channels`` up to the stage below ``channel_halving_resolution`` (the
    side of the largest axis), then halved at every doubling (PGGAN Table 2: 512 up to 32 px, 256 at 64 px, ...)."""
    widths = []
    for shape in stage_shapes(base_shape, num_stages):
        halvings = max(0, math.floor(math.log2(max(shape) / channel_halving_resolution)) + 1)
        widths.append(max(1, max_channels >> halvings))
    return widths


class ProgressiveNetwork(nn.Module):
    """Base of a network grown stage by stage; holds the ``stage`` and ``alpha`` buffers.

    Args:
        spatial_dims: 2 or 3.
        num_stages: stages the network is built with (the final resolution is the last one's).
        base_shape: spatial shape of the first stage per axis; None = 4 per axis.
    """

    __jit_unused_properties__ = ["output_shape"]

    def __init__(self, spatial_dims: int, num_stages: int, base_shape: Sequence[int] | None = None) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        if num_stages < 1:
            raise ValueError(f"num_stages must be at least 1, got {num_stages}.")
        self.spatial_dims = spatial_dims
        self.num_stages = num_stages
        self.base_shape = tuple(int(size) for size in (base_shape or [4] * spatial_dims))
        if len(self.base_shape) != spatial_dims:
            raise ValueError(f"base_shape {self.base_shape} does not have {spatial_dims} axes.")
        self.shapes = stage_shapes(self.base_shape, num_stages)
        self.register_buffer("stage", torch.tensor(num_stages - 1, dtype=torch.long))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_progress(self, stage: int, alpha: float) -> None:
        """Make ``stage`` the newest active stage, faded in to ``alpha`` (1 = fully in)."""
        if not 0 <= stage < self.num_stages:
            raise ValueError(f"stage must be in [0, {self.num_stages}), got {stage}.")
        self.stage.fill_(stage)
        self.alpha.fill_(float(alpha))

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Spatial shape of the active stage."""
        return self.shapes[int(self.stage)]


class ProgressiveGenerator(ProgressiveNetwork):
    """A progressive network with a linear 1x1 ``to_image`` conv per stage and PGGAN's output fade-in."""

    def make_to_image(self, widths: Sequence[int], out_channels: int) -> nn.ModuleList:
        """One equalized 1x1 conv (gain 1, linear) per stage, from that stage's width to ``out_channels``."""
        return nn.ModuleList(EqualizedConv(self.spatial_dims, width, out_channels, 1) for width in widths)

    def output_image(self, x: torch.Tensor, previous: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """``to_image[stage](x)`` (x: the features of ``stage``); while the stage fades in (``alpha`` < 1), blended
        with the previous stage's image ``to_image[stage - 1](previous)`` upsampled 2x, weight ``1 - alpha``."""
        image = x
        old = x
        for index, layer in enumerate(self.to_image):
            if index == stage:
                image = layer(x)
            if index == stage - 1 and alpha < 1.0:
                old = upsample2(layer(previous))
        if stage > 0 and alpha < 1.0:
            image = torch.lerp(old, image, alpha)
        return image
