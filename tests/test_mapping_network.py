"""StyleGAN's mapping network: normalised input, running mean of w, truncation."""

import warnings

import pytest
import torch

from medgan.networks import MappingNetwork


def test_shapes_and_independent_z_and_w_sizes():
    mapping = MappingNetwork(latent_size=12, w_dim=7, num_layers=3)
    assert mapping(torch.randn(5, 12)).shape == (5, 7)
    assert len(mapping.layers) == 3
    assert mapping.layers[0].weight.shape == (7, 12)


def test_z_is_normalised_first_so_its_scale_does_not_matter():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2)
    z = torch.randn(3, 8)
    torch.testing.assert_close(mapping(z * 10), mapping(z))


def test_w_avg_follows_the_batch_mean_with_decay_beta():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 6, num_layers=2, w_avg_beta=0.9)
    mapping.w_avg.fill_(1.0)
    z = torch.randn(4, 8)
    w = mapping(z)
    torch.testing.assert_close(mapping.w_avg, torch.ones(6))  # only updated when asked
    mapping(z, update_w_avg=True)
    torch.testing.assert_close(mapping.w_avg, 0.9 * torch.ones(6) + 0.1 * w.mean(dim=0))


@pytest.mark.parametrize("psi", [0.0, 0.7])
def test_truncation_interpolates_towards_w_avg(psi):
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 6, num_layers=2)
    mapping.w_avg.normal_()
    z = torch.randn(3, 8)
    expected = mapping.w_avg + psi * (mapping(z) - mapping.w_avg)
    torch.testing.assert_close(mapping(z, truncation_psi=psi), expected)
    if psi == 0.0:
        torch.testing.assert_close(mapping(z, truncation_psi=0.0), mapping.w_avg.expand(3, 6))


def test_scripted_mapping_equals_eager():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 6, num_layers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        script = torch.jit.script(mapping)
    z = torch.randn(3, 8)
    torch.testing.assert_close(script(z, 0.5), mapping(z, 0.5))


def test_needs_a_layer():
    with pytest.raises(ValueError, match="at least one layer"):
        MappingNetwork(8, 8, num_layers=0)


def test_w_avg_and_truncation_under_bf16_autocast():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 6, num_layers=2)
    z = torch.randn(3, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        w = mapping(z, truncation_psi=0.5, update_w_avg=True)
    assert w.dtype == torch.bfloat16
    assert mapping.w_avg.dtype == torch.float32
    assert mapping.w_avg.abs().sum() > 0


def test_styles_mix_the_layers_from_the_cutoff_on():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2)
    z, other = torch.randn(3, 8), torch.randn(3, 8)
    ws = mapping.styles(z, 5, mixing_z=other, mixing_cutoff=2)
    assert ws.shape == (3, 5, 8)
    for layer in range(5):
        torch.testing.assert_close(ws[:, layer], mapping(z) if layer < 2 else mapping(other))
    torch.testing.assert_close(mapping.styles(z, 5, mixing_z=other, mixing_cutoff=5), mapping.styles(z, 5))
