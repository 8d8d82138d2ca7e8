"""Foreground-aware intensity normalisation of a medical image into [-1, 1], and its inverse.

Foreground rule (used for the percentiles here and for slice selection): a value is foreground when it is
above ``t = p2 + 0.1 * (p98 - p2)``, with ``p2``/``p98`` the 2nd/98th percentiles of the whole image. This is
the background threshold of FSL BET (Smith 2002, Hum. Brain Mapp. 17(3)): it drops the zero or noisy
background of an MRI or CT (which can be most of the voxels) and keeps nearly everything of an image that has
no background. It depends only on the image, not on its units.

MONAI's ``ScaleIntensityRangePercentiles`` takes its percentiles over all voxels, so on a brain MRI whose
background is 80 % of the volume its 99.5th percentile is really the 97.5th of the brain and bright tissue is
clipped. The upper percentile is therefore computed here on the foreground, and only the final linear map is
MONAI's ``ScaleIntensityRange``.
"""

import torch
from monai.data import MetaTensor
from monai.transforms import ScaleIntensityRange
from monai.transforms.utils_pytorch_numpy_unification import percentile

BACKGROUND_PERCENTILES = (2.0, 98.0)
BACKGROUND_FRACTION = 0.1
OUTPUT_RANGE = (-1.0, 1.0)


def foreground_mask(image: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the foreground values of ``image`` (any shape, e.g. (C, *spatial)); same shape.

    Empty for a constant image, or when more than 98 % of the values are the maximum.
    """
    p_low, p_high = percentile(image.float(), BACKGROUND_PERCENTILES).tolist()
    return image > p_low + BACKGROUND_FRACTION * (p_high - p_low)


def foreground_slice_indices(volume: torch.Tensor, min_area_fraction: float = 0.25) -> torch.Tensor:
    """Indices of the slices along the last axis whose foreground area is at least ``min_area_fraction`` of the
    largest slice's.

    Args:
        volume: (C, D, H, W); the area of a slice counts its foreground values over all channels.
        min_area_fraction: in [0, 1]; 0 keeps every slice with any foreground.

    Returns:
        (N,) int64 indices into the last axis, ascending; empty for a constant volume.
    """
    areas = foreground_mask(volume).sum(dim=tuple(range(volume.ndim - 1)))
    return torch.nonzero((areas > 0) & (areas >= min_area_fraction * areas.max())).flatten()


def robust_range(image: torch.Tensor, lower: float = 0.5, upper: float = 99.5) -> tuple[float, float]:
    """The (low, high) values that ``normalize`` maps to -1 and 1: ``low`` is the ``lower`` percentile of all
    values (the background of an MRI, air in CT), ``high`` the ``upper`` percentile of the foreground (all channels
    together, so colours keep their balance). Taking ``high`` on the foreground keeps bright tissue from being
    clipped when the background is most of the image; taking ``low`` on everything keeps dark tissue apart from
    the background.

    Falls back to the image's max for ``high`` when the foreground is empty or not above ``low`` (e.g. a binary
    mask image). Raises ``ValueError`` for a constant image.
    """
    low, high = float(image.min()), float(image.max())
    if low == high:
        raise ValueError(f"the image is constant ({low}); there is no intensity range to normalise")
    robust_low = float(percentile(image.float().flatten(), lower))
    foreground = image[foreground_mask(image)].float()
    robust_high = float(percentile(foreground, upper)) if foreground.numel() else high
    return (robust_low, robust_high) if robust_high > robust_low else (low, high)


def normalize(
    image: torch.Tensor,
    lower: float = 0.5,
    upper: float = 99.5,
    intensity_range: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, tuple[float, float]]:
    """Clip ``image`` to its robust range (see :func:`robust_range`) and scale it linearly into [-1, 1].

    Args:
        image: any shape, e.g. (C, *spatial); a MetaTensor stays a MetaTensor with its metadata.
        lower: percentile of all values mapped to -1 (values below it become -1).
        upper: percentile of the foreground mapped to 1 (values above it become 1).
        intensity_range: map this (low, high) to [-1, 1] instead of the image's own range, e.g. a training image's
            range for an image injected into a trained model.

    Returns:
        the float32 scaled image, same shape and type, and ``(low, high)`` for ``denormalize``.
    """
    low, high = intensity_range or robust_range(image, lower, upper)
    scale = ScaleIntensityRange(a_min=low, a_max=high, b_min=OUTPUT_RANGE[0], b_max=OUTPUT_RANGE[1], clip=True)
    scaled = scale(image.float())
    return (scaled if isinstance(image, MetaTensor) else scaled.as_tensor()), (low, high)


def denormalize(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map ``x`` in [-1, 1] back to intensities: -1 -> ``low``, 1 -> ``high`` (exact inverse of ``normalize``
    for values that were inside [low, high]); any shape."""
    return (x - OUTPUT_RANGE[0]) / (OUTPUT_RANGE[1] - OUTPUT_RANGE[0]) * (high - low) + low
