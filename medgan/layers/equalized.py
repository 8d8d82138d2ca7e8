"""Equalized learning rate: layers whose weights are scaled by the He constant at run time, n-D.

Karras, Aila, Laine and Lehtinen, "Progressive Growing of GANs", ICLR 2018, Sec. 4.1, https://arxiv.org/abs/1710.10196.
The weights are stored as N(0, 1) / lr_multiplier and multiplied by ``gain * lr_multiplier / sqrt(fan_in)`` in every
forward pass, so Adam's per-parameter step sizes act on all layers alike. ``lr_multiplier`` slows a layer down
(StyleGAN's mapping network uses 0.01); the bias is stored as ``bias_init`` and multiplied by ``lr_multiplier``, as
in stylegan2-ada-pytorch's ``FullyConnectedLayer``. PGGAN folds the ReLU gain into the weights (``gain=sqrt(2)``);
StyleGAN2 keeps ``gain=1`` and applies it after the activation (:func:`scaled_leaky_relu`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from medgan.layers.functional import convolution

__all__ = ["EqualizedConv", "EqualizedLinear", "scaled_leaky_relu"]

LEAKY_RELU_SLOPE = 0.2
"""Negative slope of every LeakyReLU in the Karras et al. GANs."""

LEAKY_RELU_GAIN = math.sqrt(2.0)
"""He gain that keeps the signal's second moment through a LeakyReLU, as StyleGAN2's ``bias_act`` applies it."""


def scaled_leaky_relu(
    x: torch.Tensor, negative_slope: float = LEAKY_RELU_SLOPE, gain: float = LEAKY_RELU_GAIN
) -> torch.Tensor:
    """``gain * leaky_relu(x, negative_slope)``, any shape."""
    return F.leaky_relu(x, negative_slope) * gain


class EqualizedLinear(nn.Module):
    """Fully connected layer with equalized learning rate.

    Args:
        in_features, out_features: sizes of the input and output vectors.
        bias: add a learned bias.
        bias_init: initial value of the stored bias (StyleGAN2's style affines start at 1).
        lr_multiplier: learning-rate multiplier of the weight and bias.
        gain: factor on the He constant ``1 / sqrt(in_features)``.

    Shapes:
        input (B, in_features) -> output (B, out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias
        if bias is not None:
            bias = bias * self.bias_gain
        return F.linear(x, self.weight * self.weight_gain, bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, weight_gain={self.weight_gain:.4g}"


class EqualizedConv(nn.Module):
    """Convolution with equalized learning rate, 1-3 spatial dimensions.

    Args:
        spatial_dims: number of spatial dimensions (1, 2 or 3).
        in_channels, out_channels: channels of the input and output.
        kernel_size: edge length of the (cubic) kernel.
        bias: add a learned bias.
        gain: factor on the He constant ``1 / sqrt(in_channels * kernel_size ** spatial_dims)``.
        lr_multiplier: learning-rate multiplier of the weight and bias.
        padding: zero padding per side; ``None`` keeps the spatial shape at stride 1 (``kernel_size // 2``, odd
            kernels).
        stride: step of the kernel along every axis (StyleGAN2's discriminator downsamples with 2).

    Shapes:
        input (B, in_channels, *spatial) -> output (B, out_channels, *spatial') with
        ``spatial' = (spatial + 2 * padding - kernel_size) // stride + 1``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        gain: float = 1.0,
        lr_multiplier: float = 1.0,
        padding: int | None = None,
        stride: int = 1,
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        kernel_shape = (out_channels, in_channels) + (kernel_size,) * spatial_dims
        self.weight = nn.Parameter(torch.randn(kernel_shape) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_channels * kernel_size**spatial_dims)
        self.bias_gain = lr_multiplier
        self.spatial_dims = spatial_dims
        self.padding = kernel_size // 2 if padding is None else padding
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias
        if bias is not None:
            bias = bias * self.bias_gain
        return convolution(x, self.weight * self.weight_gain, bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        out_channels, in_channels, kernel_size = self.weight.shape[:3]
        return (
            f"spatial_dims={self.spatial_dims}, {in_channels}, {out_channels}, kernel_size={kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, weight_gain={self.weight_gain:.4g}"
        )
