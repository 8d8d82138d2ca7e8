"""Modulated convolution with weight demodulation (Karras et al., "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020, Sec. 2.2, eq. 1-3), n-D.

Each sample b has its own kernel ``w'_b[o, i] = w[o, i] * s_b[i]`` (the style s scales the input channels); with
demodulation the kernel is rescaled to unit norm per output channel, ``w''_b[o] = w'_b[o] / sqrt(sum w'_b[o]^2 +
eps)``, which keeps unit-variance input at unit-variance output in expectation and replaces StyleGAN's AdaIN.
:func:`modulated_conv` runs all samples in one grouped convolution (the batch folded into the groups), as
stylegan2-ada-pytorch's ``modulated_conv2d`` with ``fused_modconv=True``; the unfused form scales the input, runs
one ordinary convolution with the shared kernel and scales the output, which is the same sum (the reference uses
it while training).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medgan.layers.equalized import EqualizedLinear
from medgan.layers.functional import convolution

__all__ = ["ModulatedConv", "modulated_conv"]

DEMODULATION_EPS = 1e-8


def modulated_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    padding: int = 0,
    fused: bool = True,
    eps: float = DEMODULATION_EPS,
) -> torch.Tensor:
    """Convolve every sample with its own modulated (and demodulated) kernel.

    Args:
        x: (B, I, *spatial), 1-3 spatial axes.
        weight: the shared kernel (O, I, *k).
        styles: per-sample scales of the input channels (B, I).
        demodulate: rescale every sample's kernel to unit norm per output channel.
        padding: zero padding per side.
        fused: one grouped convolution over the batch (True), or scale-convolve-scale with the shared kernel.
        eps: added to the squared kernel norm before demodulating (1e-8 as in the reference).

    Returns:
        (B, O, *spatial') with ``spatial' = spatial + 2 * padding - k + 1``.
    """
    batch, in_channels = x.shape[0], x.shape[1]
    spatial_dims = x.dim() - 2
    out_channels = weight.shape[0]
    weight = weight.to(x.dtype)
    styles = styles.to(x.dtype)
    demod = x.new_ones(1)
    if demodulate:  # sum over i and k of (w[o, i, k] s[b, i])^2, without building the per-sample kernels
        demod = (styles.square() @ weight.square().flatten(2).sum(dim=2).T + eps).rsqrt()  # (B, O)
    if not fused:
        y = convolution(x * styles.reshape([batch, in_channels] + [1] * spatial_dims), weight, padding=padding)
        if demodulate:
            y = y * demod.reshape([batch, out_channels] + [1] * spatial_dims)
        return y
    kernels = weight.unsqueeze(0) * styles.reshape([batch, 1, in_channels] + [1] * spatial_dims)  # (B, O, I, *k)
    if demodulate:
        kernels = kernels * demod.reshape([batch, out_channels, 1] + [1] * spatial_dims)
    y = convolution(
        x.reshape([1, batch * in_channels] + list(x.shape[2:])),
        kernels.reshape([batch * out_channels, in_channels] + list(weight.shape[2:])),
        padding=padding,
        groups=batch,
    )
    return y.reshape([batch, out_channels] + list(y.shape[2:]))


class ModulatedConv(nn.Module):
    """A convolution whose kernel is modulated per sample by a style computed from w (StyleGAN2's
    ``SynthesisLayer`` / ``ToRGBLayer`` convolution, without the noise, bias and activation).

    The style is an equalized-LR affine map of w initialised to 1 (bias_init=1, paper Sec. 2.2). With
    ``demodulate=False`` (the ToRGB layers) the style is multiplied by the He constant 1 / sqrt(I * k^n) instead,
    as in the reference, since then nothing else normalises the kernel. The weight is stored N(0, 1).

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels, out_channels: I and O.
        kernel_size: k (3 in the synthesis layers, 1 in ToRGB), padding k // 2.
        w_dim: size of w.
        demodulate: weight demodulation (paper eq. 3).

    Shapes:
        x (B, I, *spatial), w (B, w_dim) -> (B, O, *spatial). ``fused`` as in :func:`modulated_conv`.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        demodulate: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        self.spatial_dims = spatial_dims
        self.demodulate = demodulate
        self.padding = kernel_size // 2
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels] + [kernel_size] * spatial_dims))
        self.style_gain = 1.0 if demodulate else 1.0 / math.sqrt(in_channels * kernel_size**spatial_dims)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.style_gain
        return modulated_conv(x, self.weight, styles, self.demodulate, self.padding, fused)

    def extra_repr(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return (
            f"spatial_dims={self.spatial_dims}, {in_channels}, {out_channels}, "
            f"kernel_size={self.weight.shape[-1]}, demodulate={self.demodulate}"
        )
