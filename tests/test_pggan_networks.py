"""PGGAN networks: shapes per stage in 2D/3D, the paper's widths, fade-in of generator and critic, export."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from medgan.networks import PGGANDiscriminator, PGGANGenerator
from medgan.networks.progressive import stage_channels

LATENT = 16
TINY = {"max_channels": 8, "channel_halving_resolution": 8}


def upsample(x):
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def pool(x):
    return F.avg_pool2d(x, 2) if x.dim() == 4 else F.avg_pool3d(x, 2)


def test_widths_follow_the_paper():
    """512 feature maps up to 32 px, then halved per doubling (PGGAN Table 2)."""
    assert stage_channels([4, 4], 9) == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert stage_channels([4, 4], 3, max_channels=8, channel_halving_resolution=8) == [8, 4, 2]
    assert stage_channels([6, 6], 5) == [512, 512, 512, 512, 256]  # 48 px is below 64: still 512; 96 px halves


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shapes_at_every_stage(spatial_dims):
    torch.manual_seed(0)
    generator = PGGANGenerator(spatial_dims, 3, latent_size=LATENT, **TINY)
    critic = PGGANDiscriminator(spatial_dims, 3, **TINY)
    for stage, side in enumerate([4, 8, 16]):
        for network in (generator, critic):
            network.set_progress(stage, 0.5 if stage else 1.0)
        images = generator(torch.randn(4, LATENT))
        assert images.shape == (4, 1) + (side,) * spatial_dims
        assert critic(images).shape == (4, 1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_generator_fade_in(spatial_dims):
    """At alpha 0 the grown generator gives the previous stage's image upsampled; at alpha 1 the new block's
    image; in between their linear blend."""
    torch.manual_seed(0)
    generator = PGGANGenerator(spatial_dims, 3, latent_size=LATENT, **TINY).eval()
    z = torch.randn(2, LATENT)
    with torch.no_grad():
        generator.set_progress(1, 1.0)
        old = generator(z)
        features = generator.blocks[1](generator.blocks[0](z))
        new = generator.to_image[2](generator.blocks[2](features))
        outputs = {}
        for alpha in (0.0, 0.3, 1.0):
            generator.set_progress(2, alpha)
            outputs[alpha] = generator(z)
    torch.testing.assert_close(outputs[0.0], upsample(old))
    torch.testing.assert_close(outputs[1.0], new)
    torch.testing.assert_close(outputs[0.3], 0.7 * upsample(old) + 0.3 * new)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_critic_fade_in(spatial_dims):
    """At alpha 0 the grown critic scores the average-pooled image as the previous stage does; at alpha 1 the
    new block's path alone counts."""
    torch.manual_seed(0)
    critic = PGGANDiscriminator(spatial_dims, 3, **TINY)
    image = torch.randn((4, 1) + (16,) * spatial_dims)
    with torch.no_grad():
        critic.set_progress(1, 1.0)
        old_score = critic(pool(image))
        critic.set_progress(2, 0.0)
        faded_out = critic(image)
        critic.set_progress(2, 1.0)
        grown = critic(image)
        x = critic.blocks[0](critic.from_image[2](image))  # blocks run finest first
        expected = critic.blocks[2](critic.blocks[1](x))
    torch.testing.assert_close(faded_out, old_score)
    torch.testing.assert_close(grown, expected)


def test_critic_ends_with_minibatch_std():
    """A batch of identical images has zero standard deviation: the critic's score then ignores the batch, but
    one varied sample changes every score of its group."""
    torch.manual_seed(0)
    critic = PGGANDiscriminator(2, 1, **TINY)
    same = torch.randn(1, 1, 4, 4).repeat(4, 1, 1, 1)
    varied = same.clone()
    varied[3] += 1.0
    with torch.no_grad():
        assert not torch.allclose(critic(same)[0], critic(varied)[0])


def test_stage_and_alpha_are_in_the_state_dict():
    generator = PGGANGenerator(2, 3, latent_size=LATENT, **TINY)
    generator.set_progress(1, 0.25)
    restored = PGGANGenerator(2, 3, latent_size=LATENT, **TINY)
    restored.load_state_dict(generator.state_dict())
    assert int(restored.stage) == 1 and float(restored.alpha) == 0.25
    assert restored.output_shape == (8, 8)


def test_torchscript_matches_eager_mid_fade():
    torch.manual_seed(0)
    generator = PGGANGenerator(2, 3, latent_size=LATENT, **TINY).eval()
    generator.set_progress(2, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(generator)
    z = torch.randn(2, LATENT)
    torch.testing.assert_close(scripted(z), generator(z))
