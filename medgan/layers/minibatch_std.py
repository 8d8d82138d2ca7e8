"""Minibatch standard deviation (Karras et al., "Progressive Growing of GANs", ICLR 2018, Sec. 3), n-D.

The batch is split into groups; within a group, the standard deviation of every feature over the group's samples is
averaged into ``num_channels`` numbers (one per slice of the channels), which are appended as constant feature maps
to every sample of the group. A critic can then see a lack of variety in a batch of fakes. Groups follow
stylegan2-ada-pytorch's ``MinibatchStdLayer``: sample ``i`` belongs to group ``i % (B // G)``.
"""

import torch
from torch import nn

__all__ = ["MinibatchStd"]


def _group_size_for(batch_size: int, group_size: int) -> int:
    """The largest group size <= ``group_size`` that divides ``batch_size`` (the reference requires it divides)."""
    size = min(group_size, batch_size)
    while batch_size % size:
        size -= 1
    return size


class MinibatchStd(nn.Module):
    """Append the within-group feature standard deviation as extra channels.

    Args:
        group_size: samples per group (4 in PGGAN and StyleGAN2); a batch it does not divide uses the largest
            group size below it that does.
        num_channels: statistics channels appended; C must be divisible by it.

    Shapes:
        input (B, C, *spatial) -> output (B, C + num_channels, *spatial).
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        if group_size < 1 or num_channels < 1:
            raise ValueError(f"group_size and num_channels must be positive, got {group_size} and {num_channels}.")
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[0], x.shape[1]
        spatial = list(x.shape[2:])
        group = _group_size_for(batch, self.group_size)
        stats = x.reshape([group, -1, self.num_channels, channels // self.num_channels] + spatial)
        stats = stats - stats.mean(dim=0)
        stats = (stats.square().mean(dim=0) + 1e-8).sqrt()  # (B/G, F, C/F, *spatial)
        stats = stats.flatten(2).mean(dim=2)  # (B/G, F)
        stats = stats.reshape([-1, self.num_channels] + [1] * len(spatial))
        stats = stats.repeat([group, 1] + spatial)  # (B, F, *spatial), sample i gets group i % (B/G)
        return torch.cat([x, stats.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
