"""AdaIN (StyleGAN's style modulation) against a plain computation, 2D and 3D."""

import pytest
import torch

from medgan.layers import AdaIN


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_adain_matches_instance_norm_then_style(spatial_dims):
    torch.manual_seed(0)
    channels, w_dim = 5, 7
    layer = AdaIN(spatial_dims, channels, w_dim)
    with torch.no_grad():
        layer.style.bias.normal_()
    x = torch.randn((3, channels) + (6,) * spatial_dims) * 4.0 + 2.0
    w = torch.randn(3, w_dim)

    axes = tuple(range(2, 2 + spatial_dims))
    mean = x.mean(dim=axes, keepdim=True)
    variance = x.var(dim=axes, unbiased=False, keepdim=True)
    normalized = (x - mean) / torch.sqrt(variance + 1e-8)
    style = w @ (layer.style.weight / w_dim**0.5).T + layer.style.bias  # equalized LR: weight / sqrt(fan_in)
    view = (3, channels) + (1,) * spatial_dims
    expected = normalized * (1.0 + style[:, :channels].reshape(view)) + style[:, channels:].reshape(view)

    torch.testing.assert_close(layer(x, w), expected, rtol=1e-4, atol=1e-5)


def test_adain_output_statistics_are_the_style():
    """Each output feature map has mean y_b and standard deviation |1 + y_s|, whatever the input's."""
    torch.manual_seed(1)
    layer = AdaIN(2, 4, 8)
    x = torch.randn(2, 4, 16, 16) * 10.0 - 3.0
    w = torch.randn(2, 8)
    out = layer(x, w)
    scale, shift = layer.style(w).view(2, 2, 4).unbind(1)
    torch.testing.assert_close(out.mean(dim=(2, 3)), shift, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False), (1.0 + scale).abs(), rtol=1e-3, atol=1e-4)
