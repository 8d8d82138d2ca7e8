"""Image pyramids for single-image GANs: ConSinGAN stage shapes and the antialiased pyramid of a training image.

Stage shapes follow ConSinGAN's rescaling (Hinz et al. 2020, "Improved Techniques for Training Single-Image GANs",
https://arxiv.org/abs/2003.11512, Sec. 3.3; reference ``ConSinGAN/functions.py``: ``adjust_scales2image`` and
``create_reals_pyramid``), extended per axis so anisotropic volumes keep their short axes.
"""

import math
from collections.abc import Sequence

import torch

from medgan.errors import BadInputError
from medgan.layers.resize import resize_antialiased

__all__ = ["consingan_stage_shapes", "image_pyramid", "retarget_stage_shapes"]

ROUNDING_TOLERANCE = 1e-6
"""Slack subtracted before rounding sizes up, so that e.g. 25.0000001 (float error) stays 25."""


def _scaled_size(size: int, scale: float) -> int:
    """Size of an axis of ``size`` voxels rescaled by ``scale``, rounded up as the reference ``imresize`` does."""
    return max(1, math.ceil(size * scale - ROUNDING_TOLERANCE))


def _stage_exponent(stage: int, last: int) -> float:
    """ConSinGAN's exponent of the scale factor at ``stage`` (< ``last`` = num_scales - 1).

    ``((last - 1) / log(last)) * log(last - stage) + 1``: ``last`` at the coarsest stage, 1 at stage ``last - 1``,
    spaced so that more stages lie at low resolution. For ``last == 1`` the ratio is 0/0; its limit gives 1.
    """
    if last == 1:
        return 1.0
    return ((last - 1) / math.log(last)) * math.log(last - stage) + 1


def _unchecked_stage_shapes(finest: tuple[int, ...], num_scales: int, min_size: int) -> list[tuple[int, ...]]:
    """Stage shapes from the finest training shape, before the check that consecutive stages differ."""
    if num_scales == 1:
        return [finest]
    last = num_scales - 1
    reference_side = min(size for size in finest if size >= min_size)
    scale_factor = (min_size / reference_side) ** (1 / last)
    shapes = []
    for stage in range(last):
        scale = scale_factor ** _stage_exponent(stage, last)
        shapes.append(tuple(max(_scaled_size(size, scale), min(min_size, size)) for size in finest))
    shapes.append(finest)
    return shapes


def _first_repeated_stage(shapes: list[tuple[int, ...]]) -> int | None:
    """Index of the first stage whose shape equals the next stage's shape, or None if all stages differ."""
    for stage in range(len(shapes) - 1):
        if shapes[stage] == shapes[stage + 1]:
            return stage
    return None


def consingan_stage_shapes(
    image_shape: Sequence[int], num_scales: int, max_size: int, min_size: int
) -> list[tuple[int, ...]]:
    """Per-axis spatial shapes of the ConSinGAN training stages, coarsest first.

    1. The image is rescaled so that its longest axis is ``max_size`` (never enlarged): the finest training shape.
    2. ConSinGAN's non-uniform spacing (Hinz et al. 2020, Sec. 3.3): with ``r = (min_size / s) ** (1 / (N - 1))``,
       where ``s`` is the shortest axis of the finest shape, stage ``i < N - 1`` has scale
       ``r ** (((N - 2) / log(N - 1)) * log(N - 1 - i) + 1)`` (``N = num_scales``), so the coarsest stage's shortest
       axis is ``min_size`` and more stages lie at low resolution than in a geometric pyramid (small steps at coarse
       stages, large ones towards the finest; ConSinGAN found the coarse stages matter most for global structure).
    3. Per axis, an axis never shrinks below ``min(min_size, its finest size)``: an axis shorter than ``min_size``
       (the 20 slices of a 20x110x110 volume) keeps its size at every stage instead of collapsing, and is left out
       when choosing ``s``.

    Sizes are rounded up, as the reference ``imresize``. Every axis is non-decreasing from coarse to fine.

    Args:
        image_shape: spatial shape of the image, e.g. (H, W) or (D, H, W).
        num_scales: number of stages N (ConSinGAN's ``train_stages``).
        max_size: longest axis of the finest stage.
        min_size: shortest axis of the coarsest stage.

    Returns:
        ``num_scales`` shapes, the last one the finest training shape.

    Raises:
        BadInputError: when a size is not positive, when ``max_size < min_size``, when the image is shorter than
            ``min_size`` on every axis, or when ``num_scales`` is larger than the image allows (two consecutive
            stages would be identical); the message names the largest ``num_scales`` that works.
    """
    image_shape = tuple(int(size) for size in image_shape)
    if not image_shape or min(image_shape) < 1:
        raise BadInputError(f"Image shape {image_shape} has no voxels; pass the spatial shape of a non-empty image.")
    if num_scales < 1:
        raise BadInputError(f"num_scales is {num_scales}; set num_scales to 1 or more.")
    if min_size < 1 or max_size < min_size:
        raise BadInputError(
            f"min_size {min_size} and max_size {max_size} are not 1 <= min_size <= max_size; change them to satisfy it."
        )
    scale_to_max = min(max_size / max(image_shape), 1.0)
    finest = tuple(_scaled_size(size, scale_to_max) for size in image_shape)
    if max(finest) < min_size:
        raise BadInputError(
            f"The image of shape {image_shape} (finest stage {finest}) is smaller than min_size {min_size} on every "
            f"axis; lower min_size to at most {max(finest)} or use a larger image."
        )
    shapes = _unchecked_stage_shapes(finest, num_scales, min_size)
    repeated = _first_repeated_stage(shapes)
    if repeated is not None:
        largest = next(
            n
            for n in range(num_scales - 1, 0, -1)
            if _first_repeated_stage(_unchecked_stage_shapes(finest, n, min_size)) is None
        )
        raise BadInputError(
            f"num_scales {num_scales} is too many for an image of shape {image_shape} with max_size {max_size} and "
            f"min_size {min_size} (stages {repeated} and {repeated + 1} would both be {shapes[repeated]}); "
            f"use num_scales {largest} or less, or lower min_size."
        )
    return shapes


def image_pyramid(image: torch.Tensor, shapes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """The image resized to every stage shape, each resized from the full image with antialiasing.

    Args:
        image: (C, *spatial) or (B, C, *spatial).
        shapes: spatial shapes, e.g. from :func:`consingan_stage_shapes`.

    Returns:
        One tensor per shape, (C, *shape) or (B, C, *shape) as the input.

    Raises:
        BadInputError: when the image does not have one or two leading axes before the spatial axes of ``shapes``.
    """
    if not shapes:
        return []
    spatial_dims = len(shapes[0])
    unbatched = image.ndim == spatial_dims + 1
    if not unbatched and image.ndim != spatial_dims + 2:
        raise BadInputError(
            f"An image of shape {tuple(image.shape)} does not fit {spatial_dims}-D stage shapes; pass it as "
            f"(C, *spatial) or (B, C, *spatial) with {spatial_dims} spatial axes."
        )
    batch = image.unsqueeze(0) if unbatched else image
    levels = [resize_antialiased(batch, shape) for shape in shapes]
    return [level.squeeze(0) for level in levels] if unbatched else levels


def retarget_stage_shapes(stage_shapes: Sequence[Sequence[int]], output_shape: Sequence[int] | None) -> list[list[int]]:
    """Stage shapes for generating at ``output_shape`` instead of the finest training shape (SinGAN retargeting):
    every stage is scaled per axis by ``output_shape / finest shape``, rounded, at least 1.

    Args:
        stage_shapes: the training stage shapes, coarsest first.
        output_shape: the wanted finest shape, one size per axis; None keeps the training shapes.

    Raises:
        BadInputError: when ``output_shape`` has the wrong number of axes or a size below 1.
    """
    shapes = [[int(size) for size in shape] for shape in stage_shapes]
    if output_shape is None:
        return shapes
    output_shape = [int(size) for size in output_shape]
    if len(output_shape) != len(shapes[-1]) or min(output_shape) < 1:
        raise BadInputError(
            f"output_shape {output_shape} does not fit the model's {len(shapes[-1])}-D output {shapes[-1]}; "
            f"give {len(shapes[-1])} positive sizes, e.g. --output_shape {list(shapes[-1])}."
        )
    factors = [new / old for new, old in zip(output_shape, shapes[-1])]
    return [[max(1, round(size * factor)) for size, factor in zip(shape, factors)] for shape in shapes[:-1]] + [
        output_shape
    ]
