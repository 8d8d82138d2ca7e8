"""Resizing of (B, C, *spatial) tensors with 1, 2 or 3 spatial axes: the one place medgan resizes an image, used by
the ConSinGAN generator between stages, by the data pyramids and fitting, and by serving."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers import separable_filtering
from monai.networks.layers.convutils import gaussian_1d

__all__ = ["resize", "resize_antialiased"]

GAUSSIAN_TRUNCATION = 4.0
"""Antialiasing kernels extend to this many standard deviations (as ``scipy.ndimage`` and MONAI)."""


def resize(x: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """Resize ``x`` to the spatial ``shape`` by (bi/tri)linear interpolation, ``align_corners=False``, no antialiasing.

    Used between generator stages (upsampling); TorchScript-compatible. ConSinGAN upsamples bicubically, which has
    no 3D mode in torch; linear interpolation is used in every dimension instead.

    Args:
        x: tensor of shape (B, C, *spatial) with 1, 2 or 3 spatial axes.
        shape: target spatial shape, one size per spatial axis.

    Returns:
        Tensor of shape (B, C, *shape); ``x`` itself when it already has that shape.
    """
    if list(x.shape[2:]) == list(shape):
        return x
    spatial_dims = len(shape)
    if spatial_dims == 1:
        mode = "linear"
    elif spatial_dims == 2:
        mode = "bilinear"
    else:
        mode = "trilinear"
    return F.interpolate(x, size=shape, mode=mode, align_corners=False)


def resize_antialiased(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Resize ``x`` to ``shape``, low-pass filtering every axis that shrinks so that fine detail does not alias.

    Each shrinking axis is blurred with a Gaussian of ``sigma = (factor - 1) / 2``, ``factor = old size / new size``
    (the default of ``skimage.transform.resize``), with replicated borders, before linear interpolation. This works
    the same in 2D and 3D (torch's ``antialias=True`` is 2D-only) and, unlike MONAI's ``Resize(anti_aliasing=True)``,
    does not darken the borders with zero padding.

    Args:
        x: tensor of shape (B, C, *spatial) with 1, 2 or 3 spatial axes.
        shape: target spatial shape.

    Returns:
        Tensor of shape (B, C, *shape).
    """
    shape = [int(size) for size in shape]
    sigmas = [max(0.0, (old / new - 1) / 2) for old, new in zip(x.shape[2:], shape)]
    if any(sigma > 0 for sigma in sigmas):
        kernels = [
            gaussian_1d(torch.tensor(sigma), truncated=GAUSSIAN_TRUNCATION, normalize=True)
            if sigma > 0
            else torch.ones(1)
            for sigma in sigmas
        ]
        x = separable_filtering(x, kernels, mode="replicate")
    return resize(x, shape)
