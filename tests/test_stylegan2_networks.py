"""StyleGAN2 generator and discriminator (``medgan.networks``): shapes in 2D and anisotropic 3D, the ws layout,
truncation, style mixing, equalized-LR scaling, TorchScript."""

from __future__ import annotations

import math

import pytest
import torch

from medgan.networks import StyleGAN2Discriminator, StyleGAN2Generator
from medgan.networks.stylegan2_levels import level_channels

TINY = {"latent_size": 8, "w_dim": 6, "mapping_layers": 2, "max_channels": 8, "channel_halving_resolution": 16}


def tiny_generator(spatial_dims=2, image_shape=(16, 16), base_shape=None) -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(spatial_dims, list(image_shape), base_shape, **TINY)


@pytest.mark.parametrize(
    "spatial_dims, image_shape, base_shape",
    [(2, (16, 16), None), (2, (8, 16), (2, 4)), (3, (8, 8, 8), None), (3, (10, 12, 14), (5, 6, 7))],
)
def test_shapes(spatial_dims, image_shape, base_shape):
    generator = tiny_generator(spatial_dims, image_shape, base_shape)
    levels = round(math.log2(image_shape[0] / (base_shape or [4] * spatial_dims)[0]))
    assert generator.num_ws == 2 * levels + 2
    images = generator(torch.randn(4, 8))
    assert images.shape == (4, 1, *image_shape)
    discriminator = StyleGAN2Discriminator(
        spatial_dims, list(image_shape), base_shape, max_channels=8, channel_halving_resolution=16
    )
    assert discriminator(images).shape == (4, 1)


def test_shape_that_is_not_a_power_of_two_of_the_base_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(2, [24, 24], **TINY)
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Discriminator(3, [8, 8, 16], max_channels=8)


def test_channels_match_the_references_channel_base_and_max():
    """stylegan2-ada's min(channel_base // res, channel_max), res = 4 * 2^level, with channel_max = max_channels and
    channel_base = max_channels * channel_halving_resolution / 2."""
    for max_channels, halving in [(512, 64), (32, 128), (8, 16), (16, 64)]:
        reference = [max(1, min(max_channels * halving // 2 // (4 * 2**level), max_channels)) for level in range(7)]
        assert [level_channels(level, max_channels, halving) for level in range(7)] == reference
    assert [level_channels(level, 512, 64) for level in range(5)] == [512, 512, 512, 512, 256]


def test_truncation_at_psi_zero_gives_w_avg():
    generator = tiny_generator()
    generator.mapping.w_avg.copy_(torch.randn(6))
    ws = generator.map(torch.randn(5, 8), truncation_psi=0.0)
    torch.testing.assert_close(ws, generator.mapping.w_avg.expand(5, generator.num_ws, 6))


def test_w_avg_tracks_the_mean_w_when_asked():
    generator = tiny_generator()
    z = torch.randn(5, 8)
    w = generator.mapping(z)
    generator.map(z, update_w_avg=True)
    torch.testing.assert_close(generator.mapping.w_avg, 0.005 * w.mean(dim=0))  # beta 0.995 from zero
    before = generator.mapping.w_avg.clone()
    generator.map(z)
    assert torch.equal(generator.mapping.w_avg, before)


def test_style_mixing_takes_the_second_w_from_the_cutoff_on():
    generator = tiny_generator()
    z, mixing_z = torch.randn(3, 8), torch.randn(3, 8)
    ws = generator.map(z, mixing_z=mixing_z, mixing_cutoff=2)
    torch.testing.assert_close(ws[:, :2], generator.map(z)[:, :2])
    torch.testing.assert_close(ws[:, 2:], generator.map(mixing_z)[:, 2:])
    torch.testing.assert_close(generator.map(z, mixing_z=mixing_z, mixing_cutoff=generator.num_ws), generator.map(z))


def test_mapping_layers_use_equalized_lr_with_multiplier():
    """Stored weights N(0, 1) / 0.01, applied times 0.01 / sqrt(fan_in): effective N(0, 1 / fan_in)."""
    generator = tiny_generator()
    layer = generator.mapping.layers[0]
    assert layer.weight_gain == pytest.approx(0.01 / math.sqrt(8))
    assert layer.bias_gain == pytest.approx(0.01)
    x = torch.randn(4, 8)
    torch.testing.assert_close(layer(x), x @ (layer.weight * 0.01 / math.sqrt(8)).T + layer.bias * 0.01)


def test_torchscript_export_matches_eager():
    generator = tiny_generator(3, (8, 8, 8)).eval()
    with torch.no_grad():
        generator.synthesis.base_conv.noise.strength.fill_(0.3)  # the noise must be drawn the same way
    scripted = torch.jit.script(generator)
    z = torch.randn(2, 8)
    torch.manual_seed(1)
    expected = generator(z, 0.7)
    torch.manual_seed(1)
    torch.testing.assert_close(scripted(z, 0.7), expected)
