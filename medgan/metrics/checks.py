"""Checks shared by the metrics: image sets a metric can be computed on, with one-sentence errors."""

from __future__ import annotations

import torch

from medgan.errors import BadInputError

SUPPORTED_SPATIAL_DIMS = (2, 3)
FIXES = {
    "real": "add images to --dataset_dir",
    "generated": "raise --num_samples",
}


def check_image_set(images: torch.Tensor, role: str) -> None:
    """Raise ``BadInputError`` unless ``images`` is a non-empty (N, C, *spatial) batch with 2 or 3 spatial axes and
    finite values; ``role`` ("real" or "generated") names the set in the message."""
    if images.ndim - 2 not in SUPPORTED_SPATIAL_DIMS:
        raise BadInputError(
            f"the {role} images have shape {tuple(images.shape)}; give a batch (N, C, *spatial) of 2D or 3D images."
        )
    if len(images) == 0:
        raise BadInputError(f"the {role} set is empty; {FIXES.get(role, 'give at least one image')}.")
    if not torch.isfinite(images).all():
        raise BadInputError(f"the {role} images hold NaN or infinite values; check the model and the data.")


def check_comparable(real: torch.Tensor, generated: torch.Tensor, same_shape: bool = True) -> None:
    """Raise ``BadInputError`` unless the real and generated sets have the same dimensionality, channels and, if
    ``same_shape``, spatial shape."""
    check_image_set(real, "real")
    check_image_set(generated, "generated")
    real_dims, generated_dims = real.ndim - 2, generated.ndim - 2
    if real_dims != generated_dims:
        raise BadInputError(
            f"the real images are {real_dims}D but the model generates {generated_dims}D images; "
            f"point --dataset_dir at {generated_dims}D images."
        )
    if real.shape[1] != generated.shape[1]:
        raise BadInputError(
            f"the real images have {real.shape[1]} channel(s) but the generated ones {generated.shape[1]}; "
            f"point --dataset_dir at {generated.shape[1]}-channel images."
        )
    if same_shape and real.shape[2:] != generated.shape[2:]:
        raise BadInputError(
            f"the real images are {tuple(real.shape[2:])} but the generated ones {tuple(generated.shape[2:])}; "
            "resize the real images to the model's output size."
        )


def require_count(images: torch.Tensor | int, minimum: int, role: str, metric: str) -> None:
    """Raise ``BadInputError`` when the ``role`` set (a batch, or its size) has fewer than ``minimum`` images for
    ``metric``."""
    count = images if isinstance(images, int) else len(images)
    if count < minimum:
        raise BadInputError(
            f"the {role} set has {count} image(s), too few for {metric}, which needs at least {minimum}; "
            f"{FIXES.get(role, 'give more images')}."
        )


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Images in the models' range [-1, 1] mapped to [0, 1] (clipped), as piq and MONAI's SSIM expect with
    ``data_range=1``; any shape."""
    return ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def sample_pairs(
    num_first: int, num_second: int, max_pairs: int, seed: int, distinct: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (i, j), i < ``num_first``, j < ``num_second``: all of them, or ``max_pairs`` drawn without
    replacement with ``seed`` when there are more.

    Args:
        distinct: pairs within one set (``num_first == num_second``): only i < j, each unordered pair once.

    Returns:
        two (P,) int64 tensors.
    """
    if distinct:
        first, second = torch.triu_indices(num_first, num_first, offset=1)
    else:
        first = torch.arange(num_first).repeat_interleave(num_second)
        second = torch.arange(num_second).repeat(num_first)
    if len(first) > max_pairs:
        keep = torch.randperm(len(first), generator=torch.Generator().manual_seed(seed))[:max_pairs]
        first, second = first[keep], second[keep]
    return first, second
