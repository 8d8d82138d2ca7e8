"""Pixelwise feature-vector normalisation (Karras et al., "Progressive Growing of GANs", ICLR 2018, Sec. 4.2).

``b = a / sqrt(mean_over_channels(a ** 2) + eps)`` at every pixel (voxel), so each feature vector has unit second
moment. Also StyleGAN's normalisation of the latent z before the mapping network.
"""

import torch
from torch import nn

__all__ = ["PixelNorm"]


class PixelNorm(nn.Module):
    """Normalise the channel vector at every position to unit root mean square.

    Args:
        eps: added to the mean square, 1e-8 as in the paper.

    Shapes:
        input (B, C, *spatial) or (B, C) -> output of the same shape.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)
