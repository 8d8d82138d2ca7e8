"""n-D functional forms: the convolution and pooling of a (B, C, *spatial) tensor with 1, 2 or 3 spatial axes,
chosen from the tensor's rank (TorchScript-compatible), for the layers that hold their own weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["avg_pool", "convolution"]


def convolution(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv1d/2d/3d`` by the rank of ``x``: (B, I, *spatial) with ``weight`` (O, I / groups, *kernel) ->
    (B, O, *spatial')."""
    if x.dim() == 3:
        return F.conv1d(x, weight, bias, stride=stride, padding=padding, groups=groups)
    if x.dim() == 4:
        return F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)
    return F.conv3d(x, weight, bias, stride=stride, padding=padding, groups=groups)


def avg_pool(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``F.avg_pool1d/2d/3d`` by the rank of ``x``, stride = ``kernel_size``: (B, C, *sp) -> (B, C, *sp/k)."""
    if x.dim() == 3:
        return F.avg_pool1d(x, kernel_size)
    if x.dim() == 4:
        return F.avg_pool2d(x, kernel_size)
    return F.avg_pool3d(x, kernel_size)
