"""StyleGAN2 residual discriminator, config F, n-D (Karras et al. 2020, Fig. 7c; stylegan2-ada-pytorch's
``Discriminator`` with ``architecture='resnet'``).

image -> FromImage (1^n conv, LeakyReLU) -> one residual block per level, from the image shape down to the base
shape: two 3^n convolutions (the second one FIR-blurred and strided by 2) plus a 1^n skip convolution of the
FIR-downsampled input, the sum scaled by 1/sqrt(2) -> epilogue at the base shape: minibatch standard deviation
(group 4, 1 channel), 3^n conv, fully connected layer, fully connected output (one logit). Every layer has an
equalized learning rate; activations are LeakyReLU 0.2 x sqrt(2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from medgan.layers.equalized import EqualizedConv, EqualizedLinear, scaled_leaky_relu
from medgan.layers.fir import FIRFilter
from medgan.layers.minibatch_std import MinibatchStd
from medgan.networks.stylegan2_levels import level_channels, num_levels

__all__ = ["StyleGAN2Discriminator"]

RESIDUAL_GAIN = math.sqrt(0.5)


class DiscriminatorBlock(nn.Module):
    """Residual block that halves every axis.

    main: conv 3^n (I -> I), LeakyReLU; FIR blur (pad 2, 2) then conv 3^n stride 2 (I -> O), LeakyReLU;
    skip: FIR downsample then conv 1^n (I -> O, no bias); output (main + skip) / sqrt(2).

    Shapes: (B, I, *spatial) -> (B, O, *spatial / 2).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv(spatial_dims, in_channels, in_channels, 3)
        self.blur = FIRFilter.blur(2, 2)
        self.conv1 = EqualizedConv(spatial_dims, in_channels, out_channels, 3, padding=0, stride=2)
        self.downsample = FIRFilter.downsample(2)
        self.skip = EqualizedConv(spatial_dims, in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(self.downsample(x)) * RESIDUAL_GAIN
        x = scaled_leaky_relu(self.conv0(x))
        x = scaled_leaky_relu(self.conv1(self.blur(x))) * RESIDUAL_GAIN
        return skip + x


class StyleGAN2Discriminator(nn.Module):
    """image -> logit (see the module docstring).

    Args:
        spatial_dims: 2 or 3.
        image_shape: input shape per axis, ``base_shape * 2**k``.
        base_shape: shape at the epilogue; default 4 on every axis.
        in_channels: channels of the input image.
        max_channels, channel_halving_resolution: feature maps per level, as in the generator (:func:`level_channels`).
        minibatch_group_size, minibatch_num_channels: minibatch standard deviation (4 and 1 in config F).

    Shapes:
        (B, in_channels, *image_shape) -> (B, 1).
    """

    def __init__(
        self,
        spatial_dims: int,
        image_shape: Sequence[int],
        base_shape: Sequence[int] | None = None,
        in_channels: int = 1,
        max_channels: int = 512,
        channel_halving_resolution: int = 64,
        minibatch_group_size: int = 4,
        minibatch_num_channels: int = 1,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        base_shape = [4] * spatial_dims if base_shape is None else [int(s) for s in base_shape]
        levels = num_levels(base_shape, image_shape)
        channels = [level_channels(level, max_channels, channel_halving_resolution) for level in range(levels + 1)]
        self.from_image = EqualizedConv(spatial_dims, in_channels, channels[levels], 1)
        self.blocks = nn.Sequential(
            *(DiscriminatorBlock(spatial_dims, channels[level], channels[level - 1]) for level in range(levels, 0, -1))
        )
        self.mbstd = MinibatchStd(minibatch_group_size, minibatch_num_channels)
        self.conv = EqualizedConv(spatial_dims, channels[0] + minibatch_num_channels, channels[0], 3)
        self.fc = EqualizedLinear(channels[0] * math.prod(base_shape), channels[0])
        self.out = EqualizedLinear(channels[0], 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.blocks(scaled_leaky_relu(self.from_image(image)))
        x = scaled_leaky_relu(self.conv(self.mbstd(x)))
        return self.out(scaled_leaky_relu(self.fc(x.flatten(1))))
