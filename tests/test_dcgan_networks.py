import pytest
import torch

from medgan.layers import remove_spectral_norm
from medgan.networks import DCGANDiscriminator, DCGANGenerator
from medgan.networks.dcgan import num_stages


@pytest.mark.parametrize("spatial_dims,image_size", [(2, 64), (2, 128), (2, 256), (3, 64), (3, 128)])
def test_generator_and_discriminator_shapes(spatial_dims, image_size):
    generator = DCGANGenerator(spatial_dims, image_size, latent_size=8, num_features=2)
    discriminator = DCGANDiscriminator(spatial_dims, image_size, num_features=2)
    images = generator(torch.randn(2, 8))
    assert images.shape == (2, 1) + (image_size,) * spatial_dims
    assert images.abs().max() <= 1.0
    assert discriminator(images).shape == (2, 1)


def test_one_more_stage_per_doubling():
    assert [num_stages(s) for s in (64, 128, 256)] == [4, 5, 6]
    with pytest.raises(ValueError, match="64, 128, 256"):
        num_stages(96)


def test_widths_follow_num_feature_maps():
    generator = DCGANGenerator(2, 64, latent_size=10, num_features=4)
    first = generator.blocks[0].conv
    assert (first.in_channels, first.out_channels) == (10, 32)  # ngf * 8 at 4x4 for 64 px, as in DCGAN
    discriminator = DCGANDiscriminator(2, 64, in_channels=3, num_features=4)
    assert discriminator.blocks[0].conv.out_channels == 4


def test_dcgan_init_std():
    torch.manual_seed(0)
    generator = DCGANGenerator(2, 64, num_features=16)
    weight = generator.blocks[1].conv.weight
    assert abs(weight.std().item() - 0.02) < 0.002 and abs(weight.mean().item()) < 0.002


def test_spectral_norm_discriminator_has_unit_spectral_norm_and_no_batch_norm():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(2, 64, num_features=4, spectral_norm=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())
    discriminator.train()
    for _ in range(30):  # power iterations converge during forward passes
        discriminator(torch.randn(2, 1, 64, 64))
    conv = discriminator.blocks[1].conv
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)
    remove_spectral_norm(discriminator)
    assert "weight" in dict(conv.named_parameters())


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_generator_scripts(spatial_dims, tmp_path):
    generator = DCGANGenerator(spatial_dims, 64, latent_size=8, num_features=2).eval()
    path = tmp_path / "g.ts"
    torch.jit.save(torch.jit.script(generator), path)
    z = torch.randn(1, 8)
    assert torch.allclose(torch.jit.load(path)(z), generator(z), atol=1e-6)
