"""FIR resampling (``medgan.layers.fir``) against a dense reference: zero insertion, padding, the full K^n filter
as one convolution, striding; in 2D and 3D."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from medgan.layers import FIRFilter, upfirdn
from medgan.layers.fir import fir_taps


def dense_upfirdn(x: torch.Tensor, up: int, down: int, pad0: int, pad1: int) -> torch.Tensor:
    spatial_dims = x.dim() - 2
    taps = fir_taps()
    kernel = taps
    for _ in range(spatial_dims - 1):
        kernel = kernel[..., None] * taps
    kernel = kernel * up**spatial_dims
    batch, channels = x.shape[:2]
    if up > 1:
        stuffed = torch.zeros([batch, channels] + [s * up for s in x.shape[2:]])
        stuffed[(slice(None), slice(None)) + (slice(None, None, up),) * spatial_dims] = x
        x = stuffed
    x = F.pad(x, [pad0, pad1] * spatial_dims)
    x = x.reshape([batch * channels, 1] + list(x.shape[2:]))
    conv = F.conv2d if spatial_dims == 2 else F.conv3d
    y = conv(x, kernel[None, None], stride=down)
    return y.reshape([batch, channels] + list(y.shape[2:]))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("up, down, pad0, pad1", [(2, 1, 2, 1), (1, 2, 1, 1), (1, 1, 2, 2), (1, 2, 0, 0)])
def test_upfirdn_matches_dense_filter(spatial_dims, up, down, pad0, pad1):
    x = torch.randn([2, 3] + [6, 5, 4][:spatial_dims], generator=torch.Generator().manual_seed(0))
    expected = dense_upfirdn(x, up, down, pad0, pad1)
    torch.testing.assert_close(upfirdn(x, fir_taps(), up, down, pad0, pad1), expected)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_resampling_shapes_and_constant_gain(spatial_dims):
    shape = [12, 10, 8][:spatial_dims]
    x = torch.full([1, 2] + shape, 3.0)
    up = FIRFilter.upsample(2)(x)
    down = FIRFilter.downsample(2)(x)
    assert list(up.shape[2:]) == [2 * s for s in shape]
    assert list(down.shape[2:]) == [s // 2 for s in shape]
    inner = (slice(None), slice(None)) + (slice(2, -2),) * spatial_dims
    torch.testing.assert_close(up[inner], torch.full_like(up[inner], 3.0))  # away from the zero-padded border
    inner = (slice(None), slice(None)) + (slice(1, -1),) * spatial_dims
    torch.testing.assert_close(down[inner], torch.full_like(down[inner], 3.0))


def test_filter_is_not_in_the_state_dict():
    assert FIRFilter.upsample(2).state_dict() == {}
