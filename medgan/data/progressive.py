"""Training images for a progressively grown GAN: read at the final resolution, average-pooled to every stage.

Karras et al. 2018 (arXiv:1710.10196), Sec. 2 and the reference's ``process_reals``: a stage at resolution r trains
on the real images average-pooled to r; while its block fades in, the reals are blended the same way as the
generator's output, ``lerp(upsample(pool(x)), x, alpha)``, so real and fake images stay comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from medgan.data.image_set import fit_to_size, read_images
from medgan.errors import BadInputError
from medgan.layers.resampling import downsample2, upsample2

__all__ = ["fade_reals", "load_progressive_images", "stage_pyramid"]


def load_progressive_images(
    dataset_dir: str | Path | None,
    spatial_dims: int,
    image_size: int,
    channels: int = 1,
    min_images: int = 1,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> torch.Tensor:
    """All training images, checked, normalised to [-1, 1], padded to a square (cube) and resized to the final
    resolution (see :func:`medgan.data.read_images` for the formats; None = the embedded sample data).

    The last stage must add detail: an image whose longest side is at most half the final resolution would give
    it nothing but interpolation, so such a ``image_size`` is refused; so is a set of fewer than
    ``min_images`` images (the largest batch size). ``include`` / ``exclude``: glob patterns choosing a folder's
    images (:func:`medgan.data.find_image_paths`).

    Returns:
        (N, channels, *[image_size] * spatial_dims) float32.
    """
    images = read_images(dataset_dir, spatial_dims, channels, include, exclude)
    largest = max(max(image.shape[1:]) for image in images)
    if 2 * largest <= image_size:
        where = "the sample data" if not dataset_dir else str(dataset_dir)
        raise BadInputError(
            f"the images of {where} are at most {largest} px per side, too small for image_size "
            f"{image_size} (its last stage would train on upsampled images); set --image_size to "
            f"{_largest_resolution_for(largest)} or less, or give larger images."
        )
    if len(images) < min_images:
        raise BadInputError(
            f"the training set has {len(images)} images, fewer than the batch size {min_images}; "
            "add images or lower --batch_size (and --batch_size_per_resolution)."
        )
    return torch.stack([fit_to_size(image, image_size) for image in images])


def _largest_resolution_for(side: int) -> int:
    """The largest 4 * 2**k below twice ``side``."""
    resolution = 4
    while 2 * resolution < 2 * side:
        resolution *= 2
    return resolution


def stage_pyramid(images: torch.Tensor, num_stages: int) -> list[torch.Tensor]:
    """``images`` (N, C, *final) average-pooled to every stage, coarsest first: stage s is pooled by
    ``2**(num_stages - 1 - s)`` per axis."""
    pyramid = [images]
    for _ in range(num_stages - 1):
        pyramid.append(downsample2(pyramid[-1]))
    return pyramid[::-1]


def fade_reals(current: torch.Tensor, previous: torch.Tensor, alpha: float) -> torch.Tensor:
    """Reals of a fading-in stage: ``lerp(upsample(previous), current, alpha)``, where ``previous`` (B, C, *sp/2) is
    the same images at the previous stage (nearest upsampling, as the generator's old path)."""
    if alpha >= 1.0:
        return current
    return torch.lerp(upsample2(previous), current, alpha)
