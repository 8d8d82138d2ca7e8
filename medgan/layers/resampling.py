"""Factor-2 resampling of every spatial axis, as PGGAN grows and shrinks its images (Karras et al. 2018, Sec. 3):
nearest-neighbour doubling and 2x average pooling, n-D. The progressive networks and the progressive data pipeline
use these same functions, so real images fade between resolutions exactly as the generator's output does.
"""

import torch
import torch.nn.functional as F

__all__ = ["downsample2", "upsample2"]


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour doubling of every spatial axis: (B, C, *sp) -> (B, C, *2sp)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2(x: torch.Tensor) -> torch.Tensor:
    """2x average pooling of every spatial axis: (B, C, *sp) -> (B, C, *sp/2)."""
    if x.dim() == 4:
        return F.avg_pool2d(x, 2)
    return F.avg_pool3d(x, 2)
