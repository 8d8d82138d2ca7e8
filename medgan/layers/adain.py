"""Adaptive instance normalisation (AdaIN), n-D, as StyleGAN's style modulation.

Huang and Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", ICCV 2017;
Karras, Laine and Aila, "A Style-Based Generator Architecture for GANs", CVPR 2019, Sec. 2, eq. 1:
``AdaIN(x_i, y) = y_s,i * (x_i - mu(x_i)) / sigma(x_i) + y_b,i``, where each feature map ``x_i`` is normalised
over its spatial axes and the style ``y = (y_s, y_b)`` is a learned affine transform of w. As in the reference
``style_mod``, the scale is applied as ``1 + y_s`` so a zero-initialised affine starts as plain instance norm.
"""

from __future__ import annotations

import torch
from monai.networks.layers import Norm
from torch import nn

from medgan.layers.equalized import EqualizedLinear

__all__ = ["AdaIN"]

INSTANCE_NORM_EPS = 1e-8
"""Added to the variance of each feature map, as StyleGAN's ``instance_norm``."""


class AdaIN(nn.Module):
    """Instance-normalise every feature map, then scale and shift it by a style computed from w.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        channels: feature maps C of x.
        w_dim: size of the intermediate latent w.

    Shapes:
        x (B, C, *spatial), w (B, w_dim) -> (B, C, *spatial).
    """

    def __init__(self, spatial_dims: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.norm = Norm[Norm.INSTANCE, spatial_dims](channels, eps=INSTANCE_NORM_EPS, affine=False)
        self.style = EqualizedLinear(w_dim, 2 * channels)  # the reference's dense layer, gain 1, bias 0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, shift = self.style(w).view([w.shape[0], 2, -1] + [1] * (x.dim() - 2)).unbind(1)
        return self.norm(x) * (scale + 1.0) + shift
