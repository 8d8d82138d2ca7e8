"""StyleGAN generator, n-D, on PGGAN's progressive scheme (Karras, Laine and Aila, "A Style-Based Generator
Architecture for Generative Adversarial Networks", CVPR 2019, arXiv:1812.04948; reference NVlabs/stylegan
``training/networks_stylegan.py``, ``G_style`` / ``G_synthesis``).

- Mapping network: 8 equalized dense layers, lr multiplier 0.01 (:class:`medgan.networks.mapping.MappingNetwork`),
  z (B, latent_size) -> w (B, w_dim), with the running mean ``w_avg`` for the truncation trick.
- Synthesis: a learned constant (C, *base_shape) (ones), then one block per doubling (nearest 2x upsampling, two
  3x3 convs). After the constant and after every conv: per-channel scaled noise, bias, LeakyReLU 0.2 and AdaIN with
  its own style from w; so stage ``s`` uses styles ``2s`` and ``2s + 1``. Linear 1x1 ``to_image`` per stage, faded
  in as in PGGAN.
- Style mixing regularisation (Sec. 3.1): given ``mixing_z``, styles from ``mixing_cutoff`` on come from its w.

The discriminator is PGGAN's (:class:`medgan.networks.PGGANDiscriminator`), as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medgan.layers.adain import AdaIN
from medgan.layers.equalized import LEAKY_RELU_GAIN, LEAKY_RELU_SLOPE, EqualizedConv
from medgan.layers.noise import NoiseInjection
from medgan.layers.resampling import upsample2
from medgan.networks.mapping import MappingNetwork
from medgan.networks.progressive import ProgressiveGenerator, stage_channels

__all__ = ["StyleGANGenerator"]


class _Epilogue(nn.Module):
    """Noise (per-channel strength), LeakyReLU 0.2, AdaIN: (B, C, *sp), w (B, w_dim) -> (B, C, *sp).

    The conv before it carries the bias; adding it before or after the noise is the same sum."""

    def __init__(self, spatial_dims: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.noise = NoiseInjection(channels)
        self.act = nn.LeakyReLU(LEAKY_RELU_SLOPE)
        self.adain = AdaIN(spatial_dims, channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.adain(self.act(self.noise(x)), w)


class _StyleConv(nn.Module):
    """Optional nearest 2x upsampling, equalized 3x3 conv, epilogue."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, w_dim: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = EqualizedConv(spatial_dims, in_channels, out_channels, 3, gain=LEAKY_RELU_GAIN)
        self.epilogue = _Epilogue(spatial_dims, out_channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = upsample2(x)
        return self.epilogue(self.conv(x), w)


class _InputBlock(nn.Module):
    """The learned constant with its bias and epilogue, then a 3x3 style conv: styles 0 and 1."""

    def __init__(self, spatial_dims: int, channels: int, w_dim: int, base_shape: Sequence[int]) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.ones([1, channels] + list(base_shape)))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.epilogue = _Epilogue(spatial_dims, channels, w_dim)
        self.conv = _StyleConv(spatial_dims, channels, channels, w_dim, upsample=False)

    def forward(self, x: torch.Tensor, w0: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
        """``x`` is not used (the block starts from its constant); it keeps the blocks' signatures alike."""
        spatial = [1] * (self.const.dim() - 2)
        x = self.const.expand([w0.shape[0]] + list(self.const.shape[1:])) + self.bias.view([1, -1] + spatial)
        return self.conv(self.epilogue(x, w0), w1)


class _Block(nn.Module):
    """One doubling: upsampling style conv and style conv, styles ``2s`` and ``2s + 1``."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv0 = _StyleConv(spatial_dims, in_channels, out_channels, w_dim, upsample=True)
        self.conv1 = _StyleConv(spatial_dims, out_channels, out_channels, w_dim, upsample=False)

    def forward(self, x: torch.Tensor, w0: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv0(x, w0), w1)


class StyleGANGenerator(ProgressiveGenerator):
    """Style-based progressive generator (see module docstring).

    Args:
        spatial_dims: 2 or 3.
        num_stages: stages; the final shape is ``base_shape * 2**(num_stages - 1)``.
        latent_size: length of z (512).
        w_dim: length of w (512).
        out_channels: image channels.
        base_shape: shape of the constant input per axis (4 per axis if None).
        max_channels, channel_halving_resolution: widths, as :class:`PGGANGenerator`'s.
        mapping_layers: layers of the mapping network (8).
        mapping_lr_multiplier: its learning-rate multiplier (0.01).

    Shapes:
        z (B, latent_size) -> image (B, out_channels, *shape of the active stage), linear output.
    """

    def __init__(
        self,
        spatial_dims: int,
        num_stages: int,
        latent_size: int = 512,
        w_dim: int = 512,
        out_channels: int = 1,
        base_shape: Sequence[int] | None = None,
        max_channels: int = 512,
        channel_halving_resolution: int = 64,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
    ) -> None:
        super().__init__(spatial_dims, num_stages, base_shape)
        widths = stage_channels(self.base_shape, num_stages, max_channels, channel_halving_resolution)
        self.num_styles = 2 * num_stages
        self.num_ws = self.num_styles  # the name StyleGAN2Generator and medgan.latent_exploration use
        self.latent_size = latent_size
        self.mapping = MappingNetwork(latent_size, w_dim, mapping_layers, mapping_lr_multiplier)
        blocks: list[nn.Module] = [_InputBlock(spatial_dims, widths[0], w_dim, self.base_shape)]
        blocks += [_Block(spatial_dims, widths[s - 1], widths[s], w_dim) for s in range(1, num_stages)]
        self.blocks = nn.ModuleList(blocks)
        self.to_image = self.make_to_image(widths, out_channels)

    def map(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """ws (B, num_ws, w_dim) for z (B, latent_size): the same w for every style (as
        :meth:`medgan.networks.StyleGAN2Generator.map`)."""
        return self.mapping.styles(z, self.num_styles, truncation_psi)

    def forward(
        self,
        z: torch.Tensor,
        truncation_psi: float = 1.0,
        mixing_z: torch.Tensor | None = None,
        mixing_cutoff: int = 0,
        update_w_avg: bool = False,
        ws: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images from latents z (B, latent_size); ``truncation_psi`` < 1 pulls every w towards ``w_avg``;
        ``mixing_z`` (B, latent_size) gives the styles from index ``mixing_cutoff`` on (style mixing);
        ``update_w_avg`` updates ``w_avg`` (training). ``ws`` (B, num_ws, w_dim), when given, replaces the mapping of
        z and all of the above: one w per style, W+ (projection, SeFa edits, :mod:`medgan.latent_exploration`);
        style ``i`` is AdaIN layer ``i`` in the order of the forward pass, and only the first ``2 * (stage + 1)`` are
        used."""
        if ws is None:
            styles = self.mapping.styles(z, self.num_styles, truncation_psi, update_w_avg, mixing_z, mixing_cutoff)
        else:
            styles = ws
        stage = int(self.stage)
        alpha = float(self.alpha)
        x = z
        previous = z
        for index, block in enumerate(self.blocks):
            if index <= stage:
                previous = x
                x = block(x, styles[:, 2 * index], styles[:, 2 * index + 1])
        return self.output_image(x, previous, stage, alpha)
