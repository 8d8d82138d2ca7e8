"""Convolutional Block Attention Module (CBAM), n-D.

Woo, Park, Lee and Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018, https://arxiv.org/abs/1807.06521.
CBAM refines a feature map ``F`` of shape (B, C, *spatial) in two steps: ``F' = M_c(F) * F`` with a per-channel weight
``M_c`` of shape (B, C, 1, ..., 1), then ``F'' = M_s(F') * F'`` with a per-voxel weight ``M_s`` of shape
(B, 1, *spatial). Pooling runs over every spatial axis, so in 3D it pools over D, H and W.
"""

import torch
import torch.nn.functional as F
from monai.networks.layers import Act, Conv, Pool
from torch import nn

from medgan.errors import BadInputError

__all__ = ["CBAM", "CBAM_VARIANTS", "ChannelAttention", "SpatialAttention"]

POOLED_SIZE = 1
"""Output size of the global pooling that gives the channel descriptors: one value per channel."""

SPATIAL_DESCRIPTORS = 2
"""Channels of the spatial attention input: the channel-wise mean and the channel-wise max."""


class ChannelAttention(nn.Module):
    """Channel attention ``M_c(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F)))`` applied as ``M_c(F) * F``.

    The shared MLP (C -> C / reduction_ratio -> C, ReLU between) is stored as two 1x1(x1) convolutions (its
    state-dict keys) and applied as matrix products to the pooled (2B, C) descriptors. (Woo et al. 2018, Sec. 3,
    Eq. 2.) Its biases start at zero: with a few hidden units and small features (GAN weights ~ N(0, 0.02)), a
    random negative bias would leave a hidden ReLU inactive for every input, so it would never receive a gradient.

    Args:
        spatial_dims: number of spatial dimensions (1, 2 or 3).
        channels: number of input (and output) channels C.
        reduction_ratio: channel reduction r of the hidden layer; its width is ``max(1, channels // reduction_ratio)``.

    Shapes:
        input (B, C, *spatial) -> output (B, C, *spatial).
    """

    def __init__(self, spatial_dims: int, channels: int, reduction_ratio: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction_ratio)
        conv_type = Conv[Conv.CONV, spatial_dims]
        self.avg_pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](POOLED_SIZE)
        self.max_pool = Pool[Pool.ADAPTIVEMAX, spatial_dims](POOLED_SIZE)
        self.mlp = nn.Sequential(
            conv_type(channels, hidden, kernel_size=1),
            Act[Act.RELU](),
            conv_type(hidden, channels, kernel_size=1),
        )
        for layer in (self.mlp[0], self.mlp[2]):
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # both descriptors through the shared MLP in one call, its 1x1 convolutions as matrix products on the
        # (2B, C) descriptors (the same numbers; a convolution call on a 1x1 map costs ~10x more on the CPU)
        descriptors = torch.cat([self.avg_pool(x), self.max_pool(x)], dim=0).flatten(1)
        first, second = self.mlp[0], self.mlp[2]
        hidden = torch.relu(F.linear(descriptors, first.weight.flatten(1), first.bias))
        average, maximum = F.linear(hidden, second.weight.flatten(1), second.bias).chunk(2, dim=0)
        weights = torch.sigmoid(average + maximum)
        return x * weights.view(weights.shape + (1,) * (x.dim() - 2))


class SpatialAttention(nn.Module):
    """Spatial attention ``M_s(F) = sigmoid(conv([mean_c(F); max_c(F)]))`` applied as ``M_s(F) * F``.

    The channel-wise mean and max (each (B, 1, *spatial)) are concatenated and convolved with one k x k (x k) kernel,
    zero-padded to keep the spatial shape. (Woo et al. 2018, Sec. 3, Eq. 3.)

    Args:
        spatial_dims: number of spatial dimensions (1, 2 or 3).
        kernel_size: odd side length k of the convolution (7 in the paper).

    Shapes:
        input (B, C, *spatial) -> output (B, C, *spatial).
    """

    def __init__(self, spatial_dims: int, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise BadInputError(f"CBAM spatial kernel size {kernel_size} is even; use an odd size such as 7.")
        self.conv = Conv[Conv.CONV, spatial_dims](
            SPATIAL_DESCRIPTORS, 1, kernel_size=kernel_size, padding=kernel_size // 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        descriptors = torch.cat([x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True).values], dim=1)
        if x.requires_grad and not torch.jit.is_tracing():
            # channels-last descriptors: oneDNN's backward of a 2-in, 1-out convolution is 3-4x faster in that layout
            # (2D and 3D, on the CPU; benchmarks/README.md), the same values up to float rounding; only in training
            # (the forward alone gains nothing, and ONNX export has no memory formats)
            if x.dim() == 4:
                descriptors = descriptors.contiguous(memory_format=torch.channels_last)
            elif x.dim() == 5:
                descriptors = descriptors.contiguous(memory_format=torch.channels_last_3d)
        return x * torch.sigmoid(self.conv(descriptors))


CBAM_VARIANTS = ("sequential", "residual")
"""The two orders of :class:`CBAM`: Woo et al.'s channel-then-spatial, and ConSinGAN_ND's spatial-then-channel with a
residual connection."""


class CBAM(nn.Module):
    """Convolutional Block Attention Module in one of two variants (``variant``):

    - ``"sequential"`` (Woo et al. 2018, Fig. 1, the channel-first order the paper found best):
      ``F' = M_c(F) * F``, ``F'' = M_s(F') * F'``;
    - ``"residual"`` (the seed project Pinhio/ConSinGAN_ND's ``CBAM``): spatial first, then channel, plus the input:
      ``F' = M_s(F) * F``, ``F'' = M_c(F') * F' + F``. Both take the same parameters (same state-dict keys).

    Args:
        spatial_dims: number of spatial dimensions (1, 2 or 3).
        channels: number of input (and output) channels C.
        reduction_ratio: channel reduction of the channel attention MLP.
        spatial_kernel_size: odd kernel side of the spatial attention convolution.
        variant: one of :data:`CBAM_VARIANTS`.

    Shapes:
        input (B, C, *spatial) -> output (B, C, *spatial).
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        reduction_ratio: int = 16,
        spatial_kernel_size: int = 7,
        variant: str = "sequential",
    ) -> None:
        super().__init__()
        if variant not in CBAM_VARIANTS:
            raise BadInputError(f"CBAM variant {variant!r} is unknown; use one of {', '.join(CBAM_VARIANTS)}.")
        self.residual = variant == "residual"
        self.channel_attention = ChannelAttention(spatial_dims, channels, reduction_ratio)
        self.spatial_attention = SpatialAttention(spatial_dims, spatial_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:
            return self.channel_attention(self.spatial_attention(x)) + x
        return self.spatial_attention(self.channel_attention(x))
