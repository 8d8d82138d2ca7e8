"""The mapping network z -> w of StyleGAN and StyleGAN2, with the running average of w used for truncation.

Karras, Laine and Aila, "A Style-Based Generator Architecture for GANs", CVPR 2019, Sec. 2 and 3.2 (truncation
trick); details as in stylegan2-ada-pytorch's ``MappingNetwork``: z is normalised to unit second moment (PixelNorm),
passes ``num_layers`` equalized fully connected layers with learning-rate multiplier 0.01 and LeakyReLU 0.2 (gain
sqrt(2)), and during training ``w_avg`` tracks the mean w with decay ``w_avg_beta``.
"""

from __future__ import annotations

import torch
from torch import nn

from medgan.layers.equalized import EqualizedLinear, scaled_leaky_relu
from medgan.layers.pixel_norm import PixelNorm

__all__ = ["MappingNetwork"]


class MappingNetwork(nn.Module):
    """Map latents z to intermediate latents w.

    Args:
        latent_size: size of z.
        w_dim: size of w (and of every hidden layer).
        num_layers: fully connected layers (8 in StyleGAN and StyleGAN2 config F).
        lr_multiplier: learning-rate multiplier of every layer (0.01, paper Sec. C).
        w_avg_beta: decay of the running mean of w, updated when ``update_w_avg`` is set.

    Shapes:
        z (B, latent_size) -> w (B, w_dim); buffer ``w_avg`` (w_dim,).
    """

    def __init__(
        self, latent_size: int, w_dim: int, num_layers: int = 8, lr_multiplier: float = 0.01, w_avg_beta: float = 0.995
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"The mapping network needs at least one layer, got num_layers={num_layers}.")
        self.latent_size = latent_size
        self.w_dim = w_dim
        self.w_avg_beta = w_avg_beta
        self.normalize = PixelNorm()
        widths = [latent_size] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualizedLinear(widths[i], widths[i + 1], lr_multiplier=lr_multiplier) for i in range(num_layers)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        """w for each z; ``truncation_psi < 1`` pulls w towards ``w_avg`` (psi=0 gives ``w_avg`` itself)."""
        w = self.normalize(z)
        for layer in self.layers:
            w = scaled_leaky_relu(layer(w))
        if update_w_avg:  # w_avg stays float32 when w comes from autocast (bf16/fp16)
            self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, truncation_psi)
        return w

    def styles(
        self,
        z: torch.Tensor,
        num_layers: int,
        truncation_psi: float = 1.0,
        update_w_avg: bool = False,
        mixing_z: torch.Tensor | None = None,
        mixing_cutoff: int = 0,
    ) -> torch.Tensor:
        """One w per styled layer, (B, num_layers, w_dim), for z (B, latent_size): the same w on every layer, and
        with ``mixing_z`` (B, latent_size) the w of ``mixing_z`` on the layers from ``mixing_cutoff`` on (style
        mixing, StyleGAN Sec. 3.1; ``mixing_cutoff >= num_layers`` mixes nothing). The one style-mixing rule of
        StyleGAN and StyleGAN2; ``w_avg`` is updated from ``z`` only."""
        ws = self.forward(z, truncation_psi, update_w_avg).unsqueeze(1).repeat(1, num_layers, 1)
        if mixing_z is not None:
            mixed = self.forward(mixing_z, truncation_psi, False).unsqueeze(1)
            later = torch.arange(num_layers, device=ws.device).reshape(1, -1, 1) >= mixing_cutoff
            ws = torch.where(later, mixed, ws)
        return ws
