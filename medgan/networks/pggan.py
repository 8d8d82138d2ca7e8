"""PGGAN generator and discriminator, n-D (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", ICLR 2018, arXiv:1710.10196; reference tkarras/progressive_growing_of_gans
``networks.py``).

Generator (Table 2): PixelNorm(z) -> dense to ``base_shape`` (the paper's 4x4 conv on a 1x1 latent) -> conv 3x3,
then one block per doubling: nearest 2x upsampling, two 3x3 convs. Every conv is followed by LeakyReLU 0.2 and
PixelNorm. Each stage has a linear 1x1 ``to_image`` conv. Discriminator: a 1x1 ``from_image`` conv per stage, one
block per halving (two 3x3 convs, 2x average pooling) and a last block of minibatch standard deviation, conv 3x3,
dense and a linear dense output. All layers use the equalized learning rate (He gain sqrt(2), 1 for the outputs).

Fade-in (Fig. 2): while stage ``s`` fades in, the generator outputs
``(1 - alpha) * upsample(to_image[s-1](x_{s-1})) + alpha * to_image[s](block_s(x_{s-1}))`` and the discriminator
feeds ``(1 - alpha) * from_image[s-1](avgpool(image)) + alpha * block_s(from_image[s](image))`` to stage ``s-1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from medgan.layers.equalized import LEAKY_RELU_GAIN, LEAKY_RELU_SLOPE, EqualizedConv, EqualizedLinear
from medgan.layers.minibatch_std import MinibatchStd
from medgan.layers.pixel_norm import PixelNorm
from medgan.layers.resampling import Downsample2, Upsample2, downsample2
from medgan.networks.progressive import ProgressiveGenerator, ProgressiveNetwork, stage_channels

__all__ = ["PGGANDiscriminator", "PGGANGenerator"]


MINIBATCH_GROUP_SIZE = 4


def _conv_act(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int, pixel_norm: bool) -> list:
    layers = [EqualizedConv(spatial_dims, in_channels, out_channels, kernel_size, gain=LEAKY_RELU_GAIN)]
    layers.append(nn.LeakyReLU(LEAKY_RELU_SLOPE))
    if pixel_norm:
        layers.append(PixelNorm())
    return layers


class _LatentToBase(nn.Module):
    """PixelNorm(z), dense to (C, *base_shape), LeakyReLU, PixelNorm: (B, latent) -> (B, C, *base_shape)."""

    def __init__(self, latent_size: int, channels: int, base_shape: Sequence[int], pixel_norm: bool) -> None:
        super().__init__()
        self.shape = [channels] + list(base_shape)
        positions = math.prod(base_shape)
        # the reference's gain sqrt(2)/4 for a 4x4 base: the He gain spread over the base's positions
        self.dense = EqualizedLinear(latent_size, channels * positions, gain=LEAKY_RELU_GAIN / math.sqrt(positions))
        self.act = nn.LeakyReLU(LEAKY_RELU_SLOPE)
        self.pixel_norm = PixelNorm() if pixel_norm else nn.Identity()
        self.normalize_latent = PixelNorm() if pixel_norm else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(self.normalize_latent(z)).view([z.shape[0]] + self.shape)
        return self.pixel_norm(self.act(x))


class PGGANGenerator(ProgressiveGenerator):
    """Progressively grown generator (see module docstring).

    Args:
        spatial_dims: 2 or 3.
        num_stages: stages; the final shape is ``base_shape * 2**(num_stages - 1)``.
        latent_size: length of z (512 in the paper).
        out_channels: image channels.
        base_shape: shape of the first stage per axis (4 per axis if None).
        max_channels: feature maps of the coarse stages (512).
        channel_halving_resolution: first resolution with half the feature maps (64, as the paper's 256 at 64 px).
        pixel_norm: PixelNorm after every conv and on z (paper: on).

    Shapes:
        z (B, latent_size) -> image (B, out_channels, *shape of the active stage), linear output (no tanh).
    """

    def __init__(
        self,
        spatial_dims: int,
        num_stages: int,
        latent_size: int = 512,
        out_channels: int = 1,
        base_shape: Sequence[int] | None = None,
        max_channels: int = 512,
        channel_halving_resolution: int = 64,
        pixel_norm: bool = True,
    ) -> None:
        super().__init__(spatial_dims, num_stages, base_shape)
        widths = stage_channels(self.base_shape, num_stages, max_channels, channel_halving_resolution)
        first = nn.Sequential(
            _LatentToBase(latent_size, widths[0], self.base_shape, pixel_norm),
            *_conv_act(spatial_dims, widths[0], widths[0], 3, pixel_norm),
        )
        blocks = [first]
        for stage in range(1, num_stages):
            blocks.append(
                nn.Sequential(
                    Upsample2(),
                    *_conv_act(spatial_dims, widths[stage - 1], widths[stage], 3, pixel_norm),
                    *_conv_act(spatial_dims, widths[stage], widths[stage], 3, pixel_norm),
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.to_image = self.make_to_image(widths, out_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        stage = int(self.stage)
        alpha = float(self.alpha)
        x = z
        previous = z
        for index, block in enumerate(self.blocks):
            if index <= stage:
                previous = x
                x = block(x)
        return self.output_image(x, previous, stage, alpha)


class PGGANDiscriminator(ProgressiveNetwork):
    """Progressively grown critic, the generator's mirror image (see module docstring).

    Args:
        spatial_dims: 2 or 3.
        num_stages: stages, as the generator's.
        in_channels: image channels.
        base_shape: shape of the first stage per axis (4 per axis if None).
        max_channels, channel_halving_resolution: widths, as the generator's.
        minibatch_group_size: group size of the minibatch standard deviation (4).

    Shapes:
        image (B, in_channels, *shape of the active stage) -> score (B, 1).
    """

    def __init__(
        self,
        spatial_dims: int,
        num_stages: int,
        in_channels: int = 1,
        base_shape: Sequence[int] | None = None,
        max_channels: int = 512,
        channel_halving_resolution: int = 64,
        minibatch_group_size: int = MINIBATCH_GROUP_SIZE,
    ) -> None:
        super().__init__(spatial_dims, num_stages, base_shape)
        widths = stage_channels(self.base_shape, num_stages, max_channels, channel_halving_resolution)
        self.from_image = nn.ModuleList(
            nn.Sequential(
                EqualizedConv(spatial_dims, in_channels, width, 1, gain=LEAKY_RELU_GAIN), nn.LeakyReLU(LEAKY_RELU_SLOPE)
            )
            for width in widths
        )
        last = nn.Sequential(
            MinibatchStd(minibatch_group_size),
            *_conv_act(spatial_dims, widths[0] + 1, widths[0], 3, pixel_norm=False),
            nn.Flatten(),
            EqualizedLinear(widths[0] * math.prod(self.base_shape), widths[0], gain=LEAKY_RELU_GAIN),
            nn.LeakyReLU(LEAKY_RELU_SLOPE),
            EqualizedLinear(widths[0], 1),
        )
        blocks = [last]
        for stage in range(1, num_stages):
            blocks.append(
                nn.Sequential(
                    *_conv_act(spatial_dims, widths[stage], widths[stage], 3, pixel_norm=False),
                    *_conv_act(spatial_dims, widths[stage], widths[stage - 1], 3, pixel_norm=False),
                    Downsample2(),
                )
            )
        self.blocks = nn.ModuleList(blocks[::-1])  # finest first: the order a forward pass runs them

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        stage = int(self.stage)
        alpha = float(self.alpha)
        x = image
        for index, layer in enumerate(self.from_image):
            if index == stage:
                x = layer(image)
        for index, block in enumerate(self.blocks):
            block_stage = self.num_stages - 1 - index
            if block_stage <= stage:
                x = block(x)
                if block_stage == stage and stage > 0 and alpha < 1.0:
                    x = torch.lerp(self._from_downsampled(image, stage - 1), x, alpha)
        return x

    def _from_downsampled(self, image: torch.Tensor, stage: int) -> torch.Tensor:
        """``from_image[stage]`` of the image average-pooled 2x: the input of the previous, faded-out path."""
        x = image
        for index, layer in enumerate(self.from_image):
            if index == stage:
                x = layer(downsample2(image))
        return x
