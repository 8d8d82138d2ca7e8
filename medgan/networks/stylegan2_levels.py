"""What the StyleGAN2 generator and discriminator share: how many 2x levels lead from the base shape to the image,
and the feature maps at each level (Karras et al. 2020; NVlabs stylegan2-ada-pytorch ``networks.py``,
``channels_dict``), so both networks are built from one rule."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["level_channels", "num_levels"]


def level_channels(level: int, max_channels: int, channel_halving_resolution: int) -> int:
    """Feature maps at ``level`` (0 = the base shape): ``max_channels`` up to the level below
    ``channel_halving_resolution``, then halved at every doubling, with the resolution counted from a nominal 4 px
    base (res = 4 * 2^level). This is the reference's ``min(channel_base // res, channel_max)`` with
    ``channel_max = max_channels`` and ``channel_base = max_channels * channel_halving_resolution / 2`` (the defaults
    512 and 64 give its 16384 and 512), written with the PGGAN/StyleGAN bundles' two keys."""
    halvings = max(0, int(math.floor(math.log2(4 * 2**level / channel_halving_resolution))) + 1)
    return max(1, max_channels >> halvings)


def num_levels(base_shape: Sequence[int], image_shape: Sequence[int]) -> int:
    """How many 2x upsamplings lead from ``base_shape`` to ``image_shape``; ValueError if it is not a power of two,
    the same on every axis."""
    ratios = {size / base for size, base in zip(image_shape, base_shape)}
    ratio = ratios.pop() if len(ratios) == 1 and len(image_shape) == len(base_shape) else 0.0
    levels = round(math.log2(ratio)) if ratio >= 1 else -1
    if levels < 0 or 2**levels != ratio:
        raise ValueError(
            f"image shape {list(image_shape)} is not base shape {list(base_shape)} times a power of two (the same "
            "on every axis)."
        )
    return levels
