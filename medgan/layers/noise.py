"""Noise injection: ``x + strength * noise`` with one noise map per sample, n-D.

Karras, Laine and Aila, "A Style-Based Generator Architecture for GANs", CVPR 2019, Sec. 2 (a learned scaling factor
per feature map); StyleGAN2 (Karras et al. 2020, Fig. 2) keeps one learned strength per layer. Strengths start at
zero, as in both reference implementations, so the noise enters only as training finds it useful.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["NoiseInjection"]


class NoiseInjection(nn.Module):
    """Add single-channel Gaussian noise scaled by learned strengths.

    Args:
        channels: ``None`` for one strength for the whole layer (StyleGAN2), else the number of channels C for one
            strength per channel (StyleGAN).

    Shapes:
        input (B, C, *spatial), optional noise (B, 1, *spatial) or (1, 1, *spatial) -> output (B, C, *spatial).
        Without ``noise``, a new standard normal map is drawn per call.
    """

    def __init__(self, channels: int | None = None) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1 if channels is None else channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn([x.shape[0], 1] + list(x.shape[2:]), device=x.device, dtype=x.dtype)
        strength = self.strength.view([1, -1] + [1] * (x.dim() - 2))
        return x + strength.to(x.dtype) * noise

    def extra_repr(self) -> str:
        return f"strengths={self.strength.numel()}"
