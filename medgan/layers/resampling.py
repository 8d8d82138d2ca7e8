"""Factor-2 resampling of every spatial axis, as PGGAN grows and shrinks its images (Karras et al. 2018, Sec. 3):
nearest-neighbour doubling and 2x average pooling, n-D. The progressive networks and the progressive data pipeline
use these same functions, so real images fade between resolutions exactly as the generator's output does.
"""

import torch
import torch.nn.functional as F
from torch import nn

from medgan.layers.functional import avg_pool

__all__ = ["Downsample2", "Upsample2", "downsample2", "upsample2"]


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour doubling of every spatial axis: (B, C, *sp) -> (B, C, *2sp)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2(x: torch.Tensor) -> torch.Tensor:
    """2x average pooling of every spatial axis: (B, C, *sp) -> (B, C, *sp/2)."""
    return avg_pool(x, 2)


class Upsample2(nn.Module):
    """Module form of :func:`upsample2`, for ``nn.Sequential`` blocks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2(x)


class Downsample2(nn.Module):
    """Module form of :func:`downsample2`, for ``nn.Sequential`` blocks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample2(x)
