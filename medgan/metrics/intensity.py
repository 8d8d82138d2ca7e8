"""Distances between the intensity distributions of two image sets: foreground histograms and a linear-kernel MMD.

- :func:`intensity_histogram_distance`: the 1-D Wasserstein-1 distance (earth mover's distance) between the
  intensities of the foreground voxels of the two sets (foreground rule of :mod:`medgan.data.intensity`: above
  ``p2 + 0.1 * (p98 - p2)`` of each image, FSL BET's background threshold), so that the background that fills most of
  a medical image does not dominate. In the images' units ([-1, 1] for medgan models): a set whose foreground is
  brighter by ``d`` everywhere is at distance ``d``.
- :func:`linear_mmd`: MONAI's ``MMDMetric`` (Gretton et al. 2012, JMLR 13, unbiased estimate) on the flattened
  images. Its kernel is linear, so it compares the mean images of the two sets only (the unbiased estimate of
  ``||mean_real - mean_generated||^2``), divided here by the number of values per image to be comparable across
  image sizes. Being unbiased it can be slightly negative, and it is not exactly 0 for two identical sets of varied
  images (its expectation is 0 for two sets from one distribution).
"""

from __future__ import annotations

import scipy.stats
import torch
from monai.metrics import MMDMetric

from medgan.data.intensity import foreground_mask
from medgan.metrics.checks import check_comparable, require_count
from medgan.metrics.result import MetricResult

MAX_VALUES = 2**22
"""Largest number of foreground values used per set; more are subsampled (seeded) to bound memory and time."""
MMD_MIN_IMAGES = 2


def foreground_values(images: torch.Tensor, max_values: int = MAX_VALUES, seed: int = 0) -> torch.Tensor:
    """The values of the foreground voxels of every image (N, C, *spatial), one mask per image (all channels).

    An image with no foreground (a constant image, as a collapsed generator may give) contributes all its values.
    More than ``max_values`` values are subsampled uniformly with ``seed``.

    Returns:
        (V,) float32.
    """
    values = []
    for image in images:
        mask = foreground_mask(image)
        values.append(image[mask] if mask.any() else image.flatten())
    values = torch.cat(values).float()
    if len(values) > max_values:
        values = values[torch.randperm(len(values), generator=torch.Generator().manual_seed(seed))[:max_values]]
    return values


def intensity_histogram_distance(
    real: torch.Tensor, generated: torch.Tensor, max_values: int = MAX_VALUES, seed: int = 0
) -> MetricResult:
    """Wasserstein-1 distance between the foreground intensity distributions of two sets (see the module docstring).

    Args:
        real: (N, C, *spatial), 2 or 3 spatial axes.
        generated: (M, C, *spatial'), same dimensionality and channels (the shapes may differ).
        max_values: values per set at most (see :func:`foreground_values`).
        seed: seeds the subsampling.
    """
    check_comparable(real, generated, same_shape=False)
    real_values = foreground_values(real, max_values, seed)
    generated_values = foreground_values(generated, max_values, seed + 1)
    return MetricResult(
        name="intensity_histogram_distance",
        value=float(scipy.stats.wasserstein_distance(real_values.numpy(), generated_values.numpy())),
        samples={
            "real": len(real),
            "generated": len(generated),
            "real_values": len(real_values),
            "generated_values": len(generated_values),
        },
        settings={
            "distance": "1-D Wasserstein-1 (earth mover's) between foreground intensities",
            "foreground": "value > p2 + 0.1 * (p98 - p2) of each image (medgan.data.foreground_mask)",
            "units": "the images' intensities as the model outputs them ([-1, 1])",
            "max_values": max_values,
            "seed": seed,
        },
        higher_is_better=False,
    )


def linear_mmd(real: torch.Tensor, generated: torch.Tensor, seed: int = 0) -> MetricResult:
    """MONAI's linear-kernel MMD between two sets of equally shaped images, per value (see the module docstring).

    ``MMDMetric`` needs two equally sized sets: the larger one is subsampled (seeded) to the smaller one's size.

    Args:
        real: (N, C, *spatial), N >= 2.
        generated: (M, C, *spatial), M >= 2.
        seed: seeds the subsampling.
    """
    check_comparable(real, generated)
    require_count(real, MMD_MIN_IMAGES, "real", "the MMD")
    require_count(generated, MMD_MIN_IMAGES, "generated", "the MMD")
    count = min(len(real), len(generated))
    rng = torch.Generator().manual_seed(seed)
    real_used = real[torch.randperm(len(real), generator=rng)[:count]].flatten(1).double()
    generated_used = generated[torch.randperm(len(generated), generator=rng)[:count]].flatten(1).double()
    value = MMDMetric()(real_used, generated_used) / real_used.shape[1]
    return MetricResult(
        name="mmd",
        value=float(value),
        samples={"real": count, "generated": count},
        settings={
            "kernel": "linear (compares the mean images)",
            "estimator": "unbiased, monai.metrics.MMDMetric",
            "normalised_by": "values per image",
            "seed": seed,
        },
        higher_is_better=False,
        note="MONAI's MMD with a linear kernel: (unbiased) squared distance between the mean real and mean "
        "generated image, per voxel.",
    )
