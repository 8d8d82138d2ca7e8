"""Modulated convolution (Karras et al. 2020, eq. 1-3): the grouped (fused) and the unfused forms equal a loop of
plain convolutions, one per sample, in 2D and 3D; demodulation keeps unit variance."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from medgan.layers import ModulatedConv, modulated_conv


def per_sample_reference(x, weight, styles, demodulate, padding):
    """Each sample convolved with its own kernel w[o, i] * s[i] (/ its norm per output channel), in float64."""
    conv = F.conv2d if x.dim() == 4 else F.conv3d
    outputs = []
    for sample, style in zip(x.double(), styles.double()):
        kernel = weight.double() * style.reshape([1, -1] + [1] * (x.dim() - 2))
        if demodulate:
            kernel = kernel / (kernel.square().sum(dim=list(range(1, kernel.dim())), keepdim=True) + 1e-8).sqrt()
        outputs.append(conv(sample[None], kernel, padding=padding)[0])
    return torch.stack(outputs).float()


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_matches_per_sample_convolutions(spatial_dims, demodulate, fused):
    rng = torch.Generator().manual_seed(spatial_dims)
    x = torch.randn([3, 4] + [7, 6, 5][:spatial_dims], generator=rng)
    weight = torch.randn([5, 4] + [3] * spatial_dims, generator=rng)
    styles = torch.rand(3, 4, generator=rng) + 0.5
    actual = modulated_conv(x, weight, styles, demodulate, padding=1, fused=fused)
    expected = per_sample_reference(x, weight, styles, demodulate, padding=1)
    assert actual.shape == (3, 5, *x.shape[2:])
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_demodulation_keeps_unit_variance(spatial_dims):
    """Unit-variance i.i.d. input through a demodulated layer with random styles: unit output variance (eq. 3)."""
    torch.manual_seed(0)
    layer = ModulatedConv(spatial_dims, 64, 64, 3, w_dim=32)
    x = torch.randn([4, 64] + [16] * spatial_dims)
    with torch.no_grad():
        y = layer(x, torch.randn(4, 32) * 3.0)
    inner = y[(slice(None), slice(None)) + (slice(1, -1),) * spatial_dims]  # away from the zero padding
    assert abs(float(inner.var()) - 1.0) < 0.05


def test_styles_start_at_one_and_to_image_uses_the_he_constant():
    layer = ModulatedConv(2, 8, 1, 1, w_dim=4, demodulate=False)
    assert torch.equal(layer.affine(torch.zeros(2, 4)), torch.ones(2, 8))  # bias_init 1, paper Sec. 2.2
    assert layer.style_gain == pytest.approx(1 / math.sqrt(8))
    x, w = torch.randn(2, 8, 5, 5), torch.randn(2, 4)
    expected = per_sample_reference(x, layer.weight.detach(), layer.affine(w).detach() / math.sqrt(8), False, 0)
    torch.testing.assert_close(layer(x, w), expected, rtol=1e-4, atol=1e-5)


def test_gradients_agree_between_fused_and_unfused():
    rng = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 6, 6, generator=rng)
    weight = torch.randn(4, 3, 3, 3, generator=rng, requires_grad=True)
    styles = (torch.rand(2, 3, generator=rng) + 0.5).requires_grad_(True)
    grads = []
    for fused in (True, False):
        (g_w, g_s) = torch.autograd.grad(
            modulated_conv(x, weight, styles, True, 1, fused).square().sum(), [weight, styles]
        )
        grads.append((g_w, g_s))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)
