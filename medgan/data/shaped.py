"""Training images at a per-axis output shape (non-square, anisotropic), for networks built on a base shape.

StyleGAN2's synthesis network starts from a learned constant of ``base_shape`` and doubles every axis per level,
so its images are ``base_shape * 2**k``: ``[64, 64]`` from ``[4, 4]``, ``[80, 96, 112]`` from ``[5, 6, 7]`` (the
3D-StyleGAN brain shape, Hong et al. 2021). :func:`image_shape_for` checks a requested size against the base
shape; :func:`load_shaped_training_images` reads images as :func:`medgan.data.image_set.read_images` does, pads
each around its centre to the output's proportions and resizes it to the output shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from medgan.data.image_set import fit_to_shape, padded_sizes, read_images, refuse_upscaling
from medgan.errors import BadInputError

__all__ = ["MAX_PADDING_FACTOR", "image_shape_for", "load_shaped_training_images"]

MAX_PADDING_FACTOR = 2.0
"""An image whose proportions are further than this from the output shape's (it would be padded to more than
twice its size along an axis) is refused: its base shape does not fit the data."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def image_shape_for(
    spatial_dims: int, image_size: int | Sequence[int], base_shape: Sequence[int] | None = None
) -> tuple[list[int], list[int]]:
    """The output shape and the base shape, checked.

    Args:
        spatial_dims: 2 or 3.
        image_size: the output side (every axis) or one size per axis.
        base_shape: the generator's base shape per axis; None for 4 on every axis.

    Returns:
        (image_shape, base_shape), lists of ``spatial_dims`` ints with ``image_shape = base_shape * 2**k``, k >= 1.

    Raises:
        BadInputError: for a size or base shape with the wrong number of entries or not related by a power of two.
    """
    if spatial_dims not in (2, 3):
        raise BadInputError(f"spatial_dims {spatial_dims!r} is not supported; use 2 or 3.")
    base = [4] * spatial_dims if base_shape is None else list(base_shape)
    shape = [image_size] * spatial_dims if _is_int(image_size) else list(image_size)
    if len(base) != spatial_dims or not all(_is_int(s) and s > 0 for s in base):
        raise BadInputError(
            f"base_shape {base} does not fit a {spatial_dims}D model; give {spatial_dims} positive sizes, "
            f"e.g. --base_shape {[4] * spatial_dims}."
        )
    if len(shape) != spatial_dims or not all(_is_int(s) and s > 0 for s in shape):
        raise BadInputError(
            f"image_size {image_size!r} does not fit a {spatial_dims}D model; give one size or {spatial_dims} sizes."
        )
    ratios = {s / b for s, b in zip(shape, base)}
    ratio = ratios.pop() if len(ratios) == 1 else 0.0
    if ratio < 2 or 2 ** round(math.log2(ratio)) != ratio:
        raise BadInputError(
            f"image_size {shape} is not base_shape {base} times a power of two (2, 4, 8, ...) on every axis; "
            f"set --image_size to e.g. {[b * 16 for b in base]} or change --base_shape."
        )
    return shape, base


def _fit(image: torch.Tensor, shape: list[int], name: str) -> torch.Tensor:
    """:func:`medgan.data.image_set.fit_to_shape`, refused when it would pad more than ``MAX_PADDING_FACTOR``."""
    sizes = list(image.shape[1:])
    factor = max(padded / size for padded, size in zip(padded_sizes(sizes, shape), sizes))
    if factor > MAX_PADDING_FACTOR:
        raise BadInputError(
            f"{name} ({'x'.join(map(str, sizes))}) would have to be padded {factor:.1f}-fold to the proportions of "
            f"image_size {shape}; choose a --base_shape with the images' proportions."
        )
    return fit_to_shape(image, shape)


def load_shaped_training_images(
    dataset_dir: str | Path | None,
    spatial_dims: int,
    image_shape: Sequence[int],
    channels: int = 1,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> torch.Tensor:
    """All training images in memory, in [-1, 1], at ``image_shape``.

    Args:
        dataset_dir: a folder of images or one image file; None or "" for the embedded MNI152 sample (axial slices
            for a 2D model); formats as in :mod:`medgan.data.image_set`.
        spatial_dims: 2 or 3.
        image_shape: output shape per axis (from :func:`image_shape_for`).
        channels: channels every image must have.
        include, exclude: glob patterns choosing a folder's images (:func:`medgan.data.find_image_paths`).

    Returns:
        (N, channels, *image_shape) float32.

    Raises:
        BadInputError: as ``read_images``, and for an image whose proportions the output shape does not fit.
    """
    shape = [int(s) for s in image_shape]
    images = read_images(dataset_dir, spatial_dims, channels, include, exclude)
    name = str(dataset_dir) if dataset_dir else "the sample volume"
    refuse_upscaling(images, shape, name)
    return torch.stack([_fit(image, shape, f"an image of {name}") for image in images])
