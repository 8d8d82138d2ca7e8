"""Tests of the n-D CBAM attention layers against a computation written out with plain torch ops."""

import io

import pytest
import torch

from medgan.errors import BadInputError
from medgan.layers.cbam import CBAM, ChannelAttention, SpatialAttention

CHANNELS = 8
REDUCTION = 4
KERNEL = 3
SHAPES = {2: (9, 10), 3: (5, 6, 7)}


def reference_channel_attention(x: torch.Tensor, module: ChannelAttention) -> torch.Tensor:
    """Channel attention by hand: pooled descriptors through the MLP as matrix products."""
    spatial_axes = tuple(range(2, x.ndim))
    first, _, second = module.mlp
    w1, b1 = first.weight.flatten(1), first.bias
    w2, b2 = second.weight.flatten(1), second.bias

    def mlp(descriptor: torch.Tensor) -> torch.Tensor:
        return torch.relu(descriptor @ w1.T + b1) @ w2.T + b2

    average = x.sum(dim=spatial_axes) / x[0, 0].numel()
    maximum = x.flatten(2).max(dim=2).values
    weights = torch.sigmoid(mlp(average) + mlp(maximum))
    return x * weights.reshape(*weights.shape, *([1] * len(spatial_axes)))


def reference_spatial_attention(x: torch.Tensor, module: SpatialAttention) -> torch.Tensor:
    """Spatial attention by hand: channel mean and max, then the conv as an explicit sum over kernel offsets."""
    descriptors = torch.stack([x.sum(dim=1) / x.shape[1], x.max(dim=1).values], dim=1)
    weight, bias = module.conv.weight[0], module.conv.bias[0]
    half = weight.shape[-1] // 2
    spatial = x.shape[2:]
    padded = torch.nn.functional.pad(descriptors, [half] * (2 * len(spatial)))
    logits = torch.full((x.shape[0], *spatial), float(bias.detach()))
    for offset in torch.cartesian_prod(*[torch.arange(weight.shape[-1])] * len(spatial)).tolist():
        window = padded[(slice(None), slice(None), *[slice(o, o + size) for o, size in zip(offset, spatial)])]
        logits = logits + (window * weight[(slice(None), *offset)].reshape(1, 2, *([1] * len(spatial)))).sum(dim=1)
    return x * torch.sigmoid(logits).unsqueeze(1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_channel_attention_matches_reference(spatial_dims):
    torch.manual_seed(0)
    module = ChannelAttention(spatial_dims, CHANNELS, REDUCTION)
    x = torch.randn(2, CHANNELS, *SHAPES[spatial_dims])
    torch.testing.assert_close(module(x), reference_channel_attention(x, module))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_spatial_attention_matches_reference(spatial_dims):
    torch.manual_seed(0)
    module = SpatialAttention(spatial_dims, KERNEL)
    x = torch.randn(2, CHANNELS, *SHAPES[spatial_dims])
    torch.testing.assert_close(module(x), reference_spatial_attention(x, module))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cbam_is_channel_then_spatial(spatial_dims):
    torch.manual_seed(0)
    module = CBAM(spatial_dims, CHANNELS, REDUCTION, KERNEL)
    x = torch.randn(2, CHANNELS, *SHAPES[spatial_dims])
    expected = reference_spatial_attention(
        reference_channel_attention(x, module.channel_attention), module.spatial_attention
    )
    output = module(x)
    assert output.shape == x.shape
    torch.testing.assert_close(output, expected)


def test_hidden_width_is_at_least_one():
    module = ChannelAttention(2, channels=4, reduction_ratio=16)
    assert module.mlp[0].out_channels == 1
    assert module(torch.randn(1, 4, 5, 5)).shape == (1, 4, 5, 5)


def test_3d_pools_over_depth():
    """A channel whose only large value sits at another depth slice must still get a different max descriptor."""
    module = ChannelAttention(3, 2, reduction_ratio=1)
    x = torch.zeros(1, 2, 4, 3, 3)
    x[0, 0, 3, 1, 1] = 10.0
    assert module.max_pool(x).flatten().tolist() == [10.0, 0.0]


def test_even_spatial_kernel_is_rejected():
    with pytest.raises(BadInputError, match="odd"):
        SpatialAttention(2, kernel_size=4)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cbam_torchscript_round_trip(spatial_dims):
    module = CBAM(spatial_dims, CHANNELS, REDUCTION, KERNEL).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    x = torch.randn(1, CHANNELS, *SHAPES[spatial_dims])
    torch.testing.assert_close(loaded(x), module(x))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_residual_cbam_is_spatial_then_channel_plus_input(spatial_dims):
    """The seed project's order (ConSinGAN_ND ``CBAM.forward``): spatial attention, channel attention, + x."""
    torch.manual_seed(0)
    module = CBAM(spatial_dims, CHANNELS, REDUCTION, KERNEL, variant="residual")
    x = torch.randn(2, CHANNELS, *SHAPES[spatial_dims])
    spatial = reference_spatial_attention(x, module.spatial_attention)
    expected = reference_channel_attention(spatial, module.channel_attention) + x
    torch.testing.assert_close(module(x), expected)


def test_both_variants_have_the_same_parameters():
    sequential, residual = CBAM(2, CHANNELS, REDUCTION, KERNEL), CBAM(2, CHANNELS, REDUCTION, KERNEL, "residual")
    assert sequential.state_dict().keys() == residual.state_dict().keys()
    residual.load_state_dict(sequential.state_dict())
    x = torch.randn(1, CHANNELS, *SHAPES[2])
    assert not torch.allclose(sequential(x), residual(x))


def test_unknown_variant_is_refused():
    with pytest.raises(BadInputError, match="sequential, residual"):
        CBAM(2, CHANNELS, variant="parallel")


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_channels_last_descriptors_give_the_gradients_of_contiguous_ones(spatial_dims):
    """The spatial attention convolves channels-last descriptors (faster oneDNN kernels): values and input gradients,
    also the second-order ones a gradient penalty needs, equal the plain computation's."""
    torch.manual_seed(0)
    module = SpatialAttention(spatial_dims, KERNEL)
    x = torch.randn(2, CHANNELS, *SHAPES[spatial_dims], requires_grad=True)
    (grad,) = torch.autograd.grad(module(x).square().sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad.square().sum(), x)
    plain = x.detach().clone().requires_grad_(True)
    (plain_grad,) = torch.autograd.grad(reference_spatial_attention(plain, module).square().sum(), plain,
                                        create_graph=True)  # fmt: skip
    (plain_second,) = torch.autograd.grad(plain_grad.square().sum(), plain)
    torch.testing.assert_close(grad, plain_grad)
    torch.testing.assert_close(second, plain_second)
