"""DCGAN generator and discriminator, n-D, at 64, 128 or 256 pixels (or voxels) per side.

Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional GANs" (arXiv:1511.06434):
the generator projects the latent to a 4^d map and doubles it with stride-2 transposed convolutions (batch norm,
ReLU, tanh output); the discriminator halves the image with stride-2 convolutions (batch norm except on the first
layer, LeakyReLU 0.2) down to 4^d and reads one logit from it. As in MedImageGAN (Skandarani et al. 2023), each
doubling of the image size adds one stage, so a 128 px network has one stage more than a 64 px one.

With ``spectral_norm=True`` the discriminator is SNGAN's (Miyato et al. 2018, arXiv:1802.05957): every
convolution is spectrally normalised and batch norm is left out, as in the paper's CNN discriminator.
"""

from __future__ import annotations

import math

import torch
from monai.networks.blocks import Convolution
from torch import nn

from medgan.layers import apply_spectral_norm
from medgan.networks.init import gan_weights_init

SUPPORTED_SIZES = (64, 128, 256)
BASE_SIZE = 4  # side of the first generator map and the last discriminator map
KERNEL = 4
LEAKY_SLOPE = 0.2


def num_stages(image_size: int) -> int:
    """Number of doublings from the 4-voxel base to ``image_size`` (4 at 64, 5 at 128, 6 at 256)."""
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES}, got {image_size}.")
    return int(math.log2(image_size // BASE_SIZE))


class DCGANGenerator(nn.Module):
    """Latent vector to image.

    Args:
        spatial_dims: 2 or 3.
        image_size: side of the output, 64, 128 or 256.
        latent_size: length of the latent vector z.
        out_channels: channels of the output image.
        num_features: width of the last (largest) stage; stage ``k`` from the end has ``num_features * 2^k``.

    Shapes: ``z`` (B, latent_size) -> image (B, out_channels, image_size, ..., image_size) in [-1, 1].
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        image_size: int = 64,
        latent_size: int = 100,
        out_channels: int = 1,
        num_features: int = 64,
    ) -> None:
        super().__init__()
        stages = num_stages(image_size)
        widths = [num_features * 2 ** (stages - 1 - i) for i in range(stages)]
        self.latent_to_map = nn.Unflatten(1, (latent_size,) + (1,) * spatial_dims)
        blocks = [self._up_block(spatial_dims, latent_size, widths[0], stride=1, padding=0)]
        blocks += [self._up_block(spatial_dims, c_in, c_out) for c_in, c_out in zip(widths[:-1], widths[1:])]
        blocks.append(
            Convolution(
                spatial_dims,
                widths[-1],
                out_channels,
                strides=2,
                kernel_size=KERNEL,
                padding=1,
                output_padding=0,
                is_transposed=True,
                conv_only=True,
                bias=False,
            )
        )
        self.blocks = nn.Sequential(*blocks)
        self.apply(gan_weights_init)

    @staticmethod
    def _up_block(spatial_dims: int, c_in: int, c_out: int, stride: int = 2, padding: int = 1) -> nn.Module:
        return Convolution(
            spatial_dims,
            c_in,
            c_out,
            strides=stride,
            kernel_size=KERNEL,
            padding=padding,
            output_padding=0,
            is_transposed=True,
            adn_ordering="NA",
            norm="BATCH",
            act="RELU",
            bias=False,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.blocks(self.latent_to_map(z)))


class DCGANDiscriminator(nn.Module):
    """Image to one real/fake logit per sample.

    Args:
        spatial_dims: 2 or 3.
        image_size: side of the input, 64, 128 or 256.
        in_channels: channels of the input image.
        num_features: width of the first stage; it doubles at each halving.
        spectral_norm: SNGAN's discriminator: spectrally normalised convolutions and no batch norm.

    Shapes: image (B, in_channels, image_size, ..., image_size) -> logits (B, 1), as the other image-level critics.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        image_size: int = 64,
        in_channels: int = 1,
        num_features: int = 64,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        stages = num_stages(image_size)
        widths = [num_features * 2**i for i in range(stages)]
        norm = None if spectral_norm else "BATCH"
        blocks = [self._down_block(spatial_dims, in_channels, widths[0], norm=None)]
        blocks += [self._down_block(spatial_dims, c_in, c_out, norm) for c_in, c_out in zip(widths[:-1], widths[1:])]
        blocks.append(
            Convolution(spatial_dims, widths[-1], 1, strides=1, kernel_size=KERNEL, padding=0, conv_only=True)
        )
        self.blocks = nn.Sequential(*blocks)
        self.apply(gan_weights_init)
        if spectral_norm:
            apply_spectral_norm(self)

    @staticmethod
    def _down_block(spatial_dims: int, c_in: int, c_out: int, norm: str | None) -> nn.Module:
        return Convolution(
            spatial_dims,
            c_in,
            c_out,
            strides=2,
            kernel_size=KERNEL,
            padding=1,
            adn_ordering="NA",
            norm=norm,
            act=("LEAKYRELU", {"negative_slope": LEAKY_SLOPE}),
            bias=norm is None,
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.blocks(image).flatten(1)
