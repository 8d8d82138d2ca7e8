"""The Karras et al. layers (equalized LR, PixelNorm, minibatch std, noise injection) against plain computations."""

import math
import warnings

import pytest
import torch
from torch import nn

from medgan.layers import EqualizedConv, EqualizedLinear, MinibatchStd, NoiseInjection, PixelNorm, scaled_leaky_relu

SPATIAL = {2: (6, 7), 3: (4, 5, 6)}


def scripted(module: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        return torch.jit.script(module)


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_equalized_linear_is_a_linear_layer_with_the_he_constant_applied_at_run_time(lr_multiplier, gain):
    torch.manual_seed(0)
    layer = EqualizedLinear(5, 3, bias_init=0.5, lr_multiplier=lr_multiplier, gain=gain)
    x = torch.randn(4, 5)
    scale = gain * lr_multiplier / math.sqrt(5)
    expected = torch.stack([layer.weight @ row * scale + layer.bias * lr_multiplier for row in x])
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.bias * lr_multiplier, torch.full((3,), 0.5 * lr_multiplier))


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
def test_equalized_linear_keeps_unit_variance_whatever_the_lr_multiplier(lr_multiplier):
    """He init at run time: Var(y) = gain^2 * Var(x) at initialisation, also for the slow mapping layers."""
    torch.manual_seed(0)
    layer = EqualizedLinear(512, 512, bias=False, lr_multiplier=lr_multiplier)
    y = layer(torch.randn(256, 512))
    assert y.var().item() == pytest.approx(1.0, rel=0.05)
    assert layer.weight.std().item() == pytest.approx(1.0 / lr_multiplier, rel=0.02)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_equalized_conv_equals_a_plain_convolution_with_scaled_weights(spatial_dims):
    torch.manual_seed(0)
    layer = EqualizedConv(spatial_dims, 4, 3, kernel_size=3, gain=math.sqrt(2), lr_multiplier=0.5)
    with torch.no_grad():
        layer.bias.normal_()
    plain = (nn.Conv2d if spatial_dims == 2 else nn.Conv3d)(4, 3, 3, padding=1)
    with torch.no_grad():
        plain.weight.copy_(layer.weight * math.sqrt(2) * 0.5 / math.sqrt(4 * 3**spatial_dims))
        plain.bias.copy_(layer.bias * 0.5)
    x = torch.randn(2, 4, *SPATIAL[spatial_dims])
    torch.testing.assert_close(layer(x), plain(x))
    torch.testing.assert_close(scripted(layer)(x), plain(x))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_strided_equalized_conv_equals_a_plain_strided_convolution(spatial_dims):
    torch.manual_seed(0)
    layer = EqualizedConv(spatial_dims, 4, 3, kernel_size=3, padding=0, stride=2)
    plain = (nn.Conv2d if spatial_dims == 2 else nn.Conv3d)(4, 3, 3, stride=2)
    with torch.no_grad():
        plain.weight.copy_(layer.weight / math.sqrt(4 * 3**spatial_dims))
        plain.bias.zero_()
    x = torch.randn(2, 4, *[9] * spatial_dims)
    assert layer(x).shape == (2, 3, *[4] * spatial_dims)  # (9 - 3) // 2 + 1
    torch.testing.assert_close(layer(x), plain(x))
    torch.testing.assert_close(scripted(layer)(x), plain(x))


def test_equalized_conv_1x1_without_padding_and_unknown_dims():
    layer = EqualizedConv(2, 3, 2, kernel_size=1)
    assert layer.padding == 0
    assert layer.weight_gain == pytest.approx(1 / math.sqrt(3))
    with pytest.raises(ValueError, match="spatial_dims"):
        EqualizedConv(4, 3, 2, kernel_size=1)


def test_scaled_leaky_relu():
    x = torch.tensor([-1.0, 0.0, 2.0])
    torch.testing.assert_close(scaled_leaky_relu(x), torch.tensor([-0.2, 0.0, 2.0]) * math.sqrt(2))
    torch.testing.assert_close(scaled_leaky_relu(x, gain=1.0), torch.tensor([-0.2, 0.0, 2.0]))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_pixel_norm_gives_every_feature_vector_unit_root_mean_square(spatial_dims):
    torch.manual_seed(0)
    x = torch.randn(2, 5, *SPATIAL[spatial_dims]) * 3
    out = PixelNorm()(x)
    flat_in, flat_out = x.movedim(1, -1).reshape(-1, 5), out.movedim(1, -1).reshape(-1, 5)
    for vector, normalised in zip(flat_in, flat_out):
        torch.testing.assert_close(normalised, vector / math.sqrt(sum(v * v for v in vector.tolist()) / 5 + 1e-8))
    torch.testing.assert_close(PixelNorm()(x[:, :, 0]), out[:, :, 0])  # (B, C) latents are normalised alike


def reference_minibatch_std(x: torch.Tensor, group_size: int, num_channels: int) -> torch.Tensor:
    """Loop version: sample i is in group i % (B / G); one statistic per group and channel slice."""
    batch, channels = x.shape[:2]
    num_groups = batch // group_size
    slice_size = channels // num_channels
    extra = torch.empty(batch, num_channels, *x.shape[2:])
    for group in range(num_groups):
        members = [i for i in range(batch) if i % num_groups == group]
        for f in range(num_channels):
            features = x[members, f * slice_size : (f + 1) * slice_size]
            value = features.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
            extra[members, f] = value
    return torch.cat([x, extra], dim=1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize(
    ("batch", "group_size", "num_channels", "used_group"), [(8, 4, 1, 4), (4, 4, 2, 4), (6, 4, 1, 3)]
)
def test_minibatch_std_against_a_loop_over_groups(spatial_dims, batch, group_size, num_channels, used_group):
    torch.manual_seed(0)
    x = torch.randn(batch, 4, *SPATIAL[spatial_dims])
    layer = MinibatchStd(group_size, num_channels)
    expected = reference_minibatch_std(x, used_group, num_channels)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(scripted(layer)(x), expected)


def test_minibatch_std_sees_a_collapsed_batch():
    same = torch.randn(1, 3, 4, 4).repeat(4, 1, 1, 1)
    assert MinibatchStd()(same)[:, 3].abs().max().item() < 1e-3
    assert MinibatchStd()(torch.randn(4, 3, 4, 4))[:, 3].min().item() > 0.5


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("channels", [None, 3])
def test_noise_injection_adds_noise_scaled_by_learned_strengths(spatial_dims, channels):
    layer = NoiseInjection(channels)
    x = torch.randn(2, 3, *SPATIAL[spatial_dims])
    noise = torch.randn(2, 1, *SPATIAL[spatial_dims])
    torch.testing.assert_close(layer(x, noise), x)  # strengths start at zero
    with torch.no_grad():
        layer.strength.copy_(torch.tensor([0.5, -1.0, 2.0]) if channels else torch.tensor([0.5]))
    out = layer(x, noise)
    for c in range(3):
        strength = layer.strength[c if channels else 0]
        torch.testing.assert_close(out[:, c], x[:, c] + strength * noise[:, 0])
    torch.testing.assert_close(scripted(layer)(x, noise), out)


def test_noise_injection_draws_one_map_per_sample_when_none_is_given():
    layer = NoiseInjection()
    with torch.no_grad():
        layer.strength.fill_(1.0)
    out = layer(torch.zeros(2, 3, 5, 5))
    torch.testing.assert_close(out[:, 0], out[:, 2])  # one map shared by the channels
    assert not torch.allclose(out[0], out[1])  # a different map per sample
    torch.manual_seed(1)
    first = layer(torch.zeros(2, 3, 5, 5))
    torch.manual_seed(1)
    torch.testing.assert_close(layer(torch.zeros(2, 3, 5, 5)), first)
