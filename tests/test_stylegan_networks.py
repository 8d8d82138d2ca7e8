"""StyleGAN generator: shapes in 2D/3D, style mixing, truncation, fade-in, noise, export."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from medgan.networks import StyleGANGenerator

LATENT = 16
TINY = {"latent_size": LATENT, "w_dim": LATENT, "max_channels": 8, "channel_halving_resolution": 8}


def make(spatial_dims=2, num_stages=3, seed=0):
    torch.manual_seed(seed)
    return StyleGANGenerator(spatial_dims, num_stages, **TINY).eval()


def with_noise_strengths(generator, value):
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith("noise.strength"):
                parameter.fill_(value)
    return generator


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shapes_and_style_count(spatial_dims):
    generator = make(spatial_dims)
    assert generator.num_styles == 6
    assert len(generator.mapping.layers) == 8
    for stage, side in enumerate([4, 8, 16]):
        generator.set_progress(stage, 1.0)
        assert generator(torch.randn(2, LATENT)).shape == (2, 1) + (side,) * spatial_dims


def test_mapping_learning_rate_multiplier():
    generator = make()
    layer = generator.mapping.layers[0]
    assert layer.weight_gain == pytest.approx(0.01 / LATENT**0.5)


def test_style_mixing_takes_later_styles_from_the_second_latent():
    generator = make()  # noise strengths start at zero: outputs are deterministic
    z, other = torch.randn(2, LATENT), torch.randn(2, LATENT)
    with torch.no_grad():
        plain, second = generator(z), generator(other)
        torch.testing.assert_close(generator(z, mixing_z=other, mixing_cutoff=generator.num_styles), plain)
        torch.testing.assert_close(generator(z, mixing_z=other, mixing_cutoff=0), second)
        mixed = generator(z, mixing_z=other, mixing_cutoff=3)
    assert not torch.allclose(mixed, plain) and not torch.allclose(mixed, second)


def test_truncation_psi_zero_gives_the_image_of_w_avg():
    """psi = 0 maps every z to w_avg, so (with the noise strengths at zero) every image is the same."""
    generator = make()
    z = torch.randn(3, LATENT)
    with torch.no_grad():
        generator.mapping.w_avg.normal_()
        images = generator(z, truncation_psi=0.0)
        untruncated = generator(z)
    torch.testing.assert_close(images, images[:1].expand_as(images))
    assert not torch.allclose(untruncated, untruncated[:1].expand_as(untruncated))


def test_training_forward_updates_w_avg():
    generator = make()
    before = generator.mapping.w_avg.clone()
    with torch.no_grad():
        generator(torch.randn(4, LATENT))
    torch.testing.assert_close(generator.mapping.w_avg, before)
    with torch.no_grad():
        generator(torch.randn(4, LATENT), update_w_avg=True)
    assert not torch.equal(generator.mapping.w_avg, before)


def test_noise_changes_details_only_when_its_strength_is_learned():
    generator = with_noise_strengths(make(), 0.5)
    z = torch.randn(2, LATENT)
    with torch.no_grad():
        assert not torch.allclose(generator(z), generator(z))
        with_noise_strengths(generator, 0.0)
        torch.testing.assert_close(generator(z), generator(z))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_fade_in(spatial_dims):
    generator = make(spatial_dims)
    z = torch.randn(2, LATENT)
    with torch.no_grad():
        generator.set_progress(1, 1.0)
        old = generator(z)
        generator.set_progress(2, 0.0)
        faded_out = generator(z)
        generator.set_progress(2, 0.6)
        blended = generator(z)
        generator.set_progress(2, 1.0)
        new = generator(z)
    upsampled = F.interpolate(old, scale_factor=2.0, mode="nearest")
    torch.testing.assert_close(faded_out, upsampled)
    torch.testing.assert_close(blended, 0.4 * upsampled + 0.6 * new)


def test_torchscript_matches_eager_with_truncation():
    generator = make()
    generator.set_progress(2, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(generator)
    z = torch.randn(2, LATENT)
    torch.testing.assert_close(scripted(z, 0.7), generator(z, truncation_psi=0.7))
