"""StyleGAN2 generator, config F, n-D (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
CVPR 2020; layout as in stylegan2-ada-pytorch's ``training/networks.py``: ``MappingNetwork``, ``SynthesisLayer``,
``ToRGBLayer``, ``SynthesisBlock`` with ``architecture='skip'``).

z (B, latent_size) -> mapping network -> w (B, w_dim), broadcast to ``num_ws`` copies (one per modulated layer, so style
mixing can give different layers different w) -> synthesis network: a learned constant at ``base_shape``, then per
resolution two modulated 3^n convolutions (the first after a [1,3,3,1] FIR upsampling) each followed by noise, bias
and LeakyReLU 0.2 x sqrt(2), and a ToImage layer (modulated 1^n conv, no demodulation, no activation) whose output
is added to the FIR-upsampled image of the level below (the skip architecture). The output image has no tanh.
``base_shape`` is per axis, so ``[5, 6, 7]`` with 4 upsamplings gives 80x96x112 volumes (Hong et al., "3D-StyleGAN",
2021).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from medgan.layers.equalized import scaled_leaky_relu
from medgan.layers.fir import FIRFilter
from medgan.layers.modulated_conv import ModulatedConv
from medgan.layers.noise import NoiseInjection
from medgan.networks.mapping import MappingNetwork
from medgan.networks.stylegan2_levels import level_channels, num_levels

__all__ = ["StyleGAN2Generator", "SynthesisNetwork"]


class SynthesisLayer(nn.Module):
    """[FIR upsample x2 ->] modulated, demodulated 3^n conv -> + noise -> + bias -> LeakyReLU 0.2 x sqrt(2).

    Shapes: x (B, I, *spatial), w (B, w_dim) -> (B, O, *spatial) (x 2 per axis when ``upsample``).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, w_dim: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = FIRFilter.upsample(2) if upsample else nn.Identity()
        self.conv = ModulatedConv(spatial_dims, in_channels, out_channels, 3, w_dim, demodulate=True)
        self.noise = NoiseInjection()
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool) -> torch.Tensor:
        x = self.noise(self.conv(self.upsample(x), w, fused))
        return scaled_leaky_relu(x + self.bias.to(x.dtype).reshape([1, -1] + [1] * (x.dim() - 2)))


class ToImage(nn.Module):
    """Modulated 1^n conv without demodulation, plus bias (StyleGAN2's ``ToRGBLayer``).

    Shapes: x (B, I, *spatial), w (B, w_dim) -> (B, image_channels, *spatial).
    """

    def __init__(self, spatial_dims: int, in_channels: int, image_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv(spatial_dims, in_channels, image_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(image_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool) -> torch.Tensor:
        x = self.conv(x, w, fused)
        return x + self.bias.to(x.dtype).reshape([1, -1] + [1] * (x.dim() - 2))


class SynthesisBlock(nn.Module):
    """One resolution doubling of the skip generator: two synthesis layers and a ToImage layer; the image so far is
    FIR-upsampled and this level's ToImage output added to it.

    Shapes: x (B, I, *s), image (B, C, *s), ws (B, 3, w_dim) -> x (B, O, *2s), image (B, C, *2s).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, image_channels: int, w_dim: int):
        super().__init__()
        self.conv0 = SynthesisLayer(spatial_dims, in_channels, out_channels, w_dim, upsample=True)
        self.conv1 = SynthesisLayer(spatial_dims, out_channels, out_channels, w_dim, upsample=False)
        self.to_image = ToImage(spatial_dims, out_channels, image_channels, w_dim)
        self.upsample_image = FIRFilter.upsample(2)

    def forward(
        self, x: torch.Tensor, image: torch.Tensor, ws: torch.Tensor, fused: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv0(x, ws[:, 0], fused)
        x = self.conv1(x, ws[:, 1], fused)
        return x, self.upsample_image(image) + self.to_image(x, ws[:, 2], fused)


class SynthesisNetwork(nn.Module):
    """ws -> image, StyleGAN2's skip generator (see the module docstring).

    Args:
        spatial_dims: 2 or 3.
        w_dim: size of w.
        image_channels: channels of the output image.
        base_shape: shape of the learned constant, per axis, e.g. [4, 4] or [5, 6, 7].
        levels: number of 2x upsamplings; the output shape is ``base_shape * 2**levels``.
        max_channels, channel_halving_resolution: feature maps per level, see :func:`level_channels`.

    Shapes:
        ws (B, num_ws, w_dim) with ``num_ws = 2 * levels + 2`` -> (B, image_channels, *image_shape).
        Layer i uses ws[:, i]; a ToImage layer shares its w with the next level's first convolution, as in the
        reference.
    """

    def __init__(
        self,
        spatial_dims: int,
        w_dim: int,
        image_channels: int,
        base_shape: Sequence[int],
        levels: int,
        max_channels: int,
        channel_halving_resolution: int,
    ) -> None:
        super().__init__()
        if len(base_shape) != spatial_dims:
            raise ValueError(
                f"base_shape {list(base_shape)} needs {spatial_dims} entries for spatial_dims={spatial_dims}."
            )
        channels = [level_channels(level, max_channels, channel_halving_resolution) for level in range(levels + 1)]
        self.num_ws = 2 * levels + 2
        self.image_shape = [int(size) * 2**levels for size in base_shape]
        self.const = nn.Parameter(torch.randn([channels[0]] + [int(size) for size in base_shape]))
        self.base_conv = SynthesisLayer(spatial_dims, channels[0], channels[0], w_dim, upsample=False)
        self.base_to_image = ToImage(spatial_dims, channels[0], image_channels, w_dim)
        self.blocks = nn.ModuleList(
            SynthesisBlock(spatial_dims, channels[level - 1], channels[level], image_channels, w_dim)
            for level in range(1, levels + 1)
        )

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        fused = not self.training  # as the reference: grouped convolutions for inference, unfused while training
        x = self.const.to(ws.dtype).unsqueeze(0).expand([ws.shape[0]] + list(self.const.shape))
        x = self.base_conv(x, ws[:, 0], fused)
        image = self.base_to_image(x, ws[:, 1], fused)
        index = 1
        for block in self.blocks:
            x, image = block(x, image, ws.narrow(1, index, 3), fused)
            index += 2
        return image


class StyleGAN2Generator(nn.Module):
    """z -> image: :class:`~medgan.networks.MappingNetwork` then :class:`SynthesisNetwork`.

    Args:
        spatial_dims: 2 or 3.
        image_shape: output shape per axis, ``base_shape * 2**k``, e.g. [64, 64] or [80, 96, 112].
        base_shape: shape of the learned constant per axis; default 4 on every axis.
        out_channels: channels of the output image.
        latent_size, w_dim: sizes of z and w (independent; 512 in config F).
        mapping_layers: 8 in config F.
        mapping_lr_multiplier: 0.01.
        w_avg_beta: decay of the running mean of w (truncation centre), 0.995.
        max_channels, channel_halving_resolution: feature maps per level (512 and 64: stylegan2-ada's ``auto``
            config below 512 px, channel_base 16384 and channel_max 512; see :func:`level_channels`).

    Shapes:
        forward: z (B, latent_size) -> (B, out_channels, *image_shape). ``ws`` (B, num_ws, w_dim), when given, replaces
        the mapping of z (style mixing, path-length regularisation); ``truncation_psi`` < 1 pulls w towards
        ``mapping.w_avg``. Buffers: ``mapping.w_avg`` (w_dim,). Scriptable with TorchScript.
    """

    def __init__(
        self,
        spatial_dims: int,
        image_shape: Sequence[int],
        base_shape: Sequence[int] | None = None,
        out_channels: int = 1,
        latent_size: int = 512,
        w_dim: int = 512,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
        max_channels: int = 512,
        channel_halving_resolution: int = 64,
    ) -> None:
        super().__init__()
        base_shape = [4] * spatial_dims if base_shape is None else [int(s) for s in base_shape]
        self.latent_size = latent_size
        self.mapping = MappingNetwork(latent_size, w_dim, mapping_layers, mapping_lr_multiplier, w_avg_beta)
        levels = num_levels(base_shape, image_shape)
        self.synthesis = SynthesisNetwork(
            spatial_dims, w_dim, out_channels, base_shape, levels, max_channels, channel_halving_resolution
        )
        self.num_ws = self.synthesis.num_ws

    def map(
        self,
        z: torch.Tensor,
        truncation_psi: float = 1.0,
        update_w_avg: bool = False,
        mixing_z: torch.Tensor | None = None,
        mixing_cutoff: int = 0,
    ) -> torch.Tensor:
        """ws (B, num_ws, w_dim) for z (B, latent_size); with ``mixing_z``, layers from ``mixing_cutoff`` on take
        the w of ``mixing_z`` instead (:meth:`MappingNetwork.styles`)."""
        return self.mapping.styles(z, self.num_ws, truncation_psi, update_w_avg, mixing_z, mixing_cutoff)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, ws: torch.Tensor | None = None) -> torch.Tensor:
        if ws is None:
            ws = self.map(z, truncation_psi)
        return self.synthesis(ws)
