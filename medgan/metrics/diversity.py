"""Diversity of a set of images: mean pairwise MS-SSIM (any GAN) and SinGAN's pixel-wise diversity (single-image GANs).

- :func:`mean_pairwise_similarity`: the mean MS-SSIM (Wang, Simoncelli and Bovik 2003) over pairs of images of one
  set, with MONAI's ``MultiScaleSSIMMetric``, in 2D and 3D. Used as a diversity measure by Odena et al. 2017
  (https://arxiv.org/abs/1610.09585, Sec. 4.2): the lower the mean similarity, the more diverse the set; 1 means all
  images are identical (mode collapse). Read it next to the same figure for the real images. MS-SSIM downsamples
  four times, so with 5 scales every axis must be at least ``16 * kernel_size`` voxels (176 at the standard
  11-voxel window); smaller images fall back to single-scale SSIM (MONAI ``SSIMMetric``), with a logged message and
  ``measure: "ssim"`` in the settings.
- :func:`singan_diversity`: Shaham, Dekel and Michaeli, "SinGAN", ICCV 2019, https://arxiv.org/abs/1905.01164,
  Sec. 4.1: the standard deviation over generated samples of every voxel, averaged over voxels and divided by the
  standard deviation of the training image's intensities. 0 means all samples are identical.
"""

from __future__ import annotations

import logging

import torch
from monai.metrics import MultiScaleSSIMMetric, SSIMMetric

from medgan.errors import BadInputError
from medgan.metrics.checks import check_comparable, check_image_set, require_count, sample_pairs, to_unit_range
from medgan.metrics.result import MetricResult

logger = logging.getLogger(__name__)

SSIM_KERNEL_SIZE = 11
MS_SSIM_SCALES = 5
"""MONAI's default MS-SSIM weights have 5 scales: 4 halvings of the image."""
MS_SSIM_DOWNSAMPLING = 2 ** (MS_SSIM_SCALES - 1)
"""The coarsest scale's size divided by the image's size (MONAI checks ``size // 16 > kernel_size - 1``)."""
MIN_KERNEL_SIZE = 3
MAX_PAIRS = 1024
PAIR_BATCH_SIZE = 32
MIN_SAMPLES = 2


def ms_ssim_fits(shape: tuple[int, ...] | torch.Size, kernel_size: int = SSIM_KERNEL_SIZE) -> bool:
    """Whether MONAI's 5-scale MS-SSIM accepts images of spatial ``shape`` with ``kernel_size``."""
    return all(size >= MS_SSIM_DOWNSAMPLING * kernel_size for size in shape)


def similarity_measure(
    shape: tuple[int, ...] | torch.Size, kernel_size: int = SSIM_KERNEL_SIZE
) -> tuple[str, int, SSIMMetric | MultiScaleSSIMMetric]:
    """The similarity used for images of spatial ``shape``: ``("ms_ssim", kernel, metric)`` when they are large
    enough, else ``("ssim", kernel, metric)`` with the kernel shrunk to the shortest axis if needed (odd, at least 3).

    Raises:
        BadInputError: for images with an axis shorter than 3 voxels.
    """
    spatial_dims = len(shape)
    if ms_ssim_fits(shape, kernel_size):
        return "ms_ssim", kernel_size, MultiScaleSSIMMetric(spatial_dims, data_range=1.0, kernel_size=kernel_size)
    shortest = min(shape)
    if shortest < MIN_KERNEL_SIZE:
        raise BadInputError(f"images of shape {tuple(shape)} are too small for SSIM; evaluate larger images.")
    fitted = min(kernel_size, shortest if shortest % 2 else shortest - 1)
    logger.info(
        f"images of shape {tuple(shape)} are too small for MS-SSIM with a {kernel_size}-voxel window "
        f"(every axis must be at least {MS_SSIM_DOWNSAMPLING * kernel_size}); using single-scale SSIM with a "
        f"{fitted}-voxel window instead."
    )
    return "ssim", fitted, SSIMMetric(spatial_dims, data_range=1.0, win_size=fitted)


@torch.no_grad()
def pairwise_similarities(
    images: torch.Tensor, measure: SSIMMetric | MultiScaleSSIMMetric, max_pairs: int = MAX_PAIRS, seed: int = 0
) -> torch.Tensor:
    """``measure`` between distinct pairs of ``images`` (N, C, *spatial) in [-1, 1] (mapped to [0, 1]): all
    N (N - 1) / 2 pairs or ``max_pairs`` of them drawn with ``seed``. Returns (P,) float."""
    first, second = sample_pairs(len(images), len(images), max_pairs, seed, distinct=True)
    unit = to_unit_range(images)
    values = [
        measure(unit[first[start : start + PAIR_BATCH_SIZE]], unit[second[start : start + PAIR_BATCH_SIZE]]).flatten()
        for start in range(0, len(first), PAIR_BATCH_SIZE)
    ]
    return torch.cat(values).float()


def mean_pairwise_similarity(
    images: torch.Tensor,
    role: str,
    kernel_size: int = SSIM_KERNEL_SIZE,
    max_pairs: int = MAX_PAIRS,
    seed: int = 0,
) -> MetricResult:
    """Mean pairwise MS-SSIM (or SSIM for small images) within one set, named ``diversity_<measure>_<role>``.

    Args:
        images: (N, C, *spatial) in [-1, 1], N >= 2, 2 or 3 spatial axes.
        role: "generated" or "real" (names the figure and the set in errors).
        kernel_size: the (MS-)SSIM window side.
        max_pairs: pairs used at most.
        seed: seeds the choice of pairs.

    Returns:
        value: the mean similarity in [0, 1] (1: identical images); ``details["std"]``: its spread over pairs.
    """
    check_image_set(images, role)
    require_count(images, MIN_SAMPLES, role, "the pairwise MS-SSIM")
    measure_name, kernel, measure = similarity_measure(images.shape[2:], kernel_size)
    values = pairwise_similarities(images, measure, max_pairs, seed)
    return MetricResult(
        name=f"diversity_{measure_name}_{role}",
        value=float(values.mean()),
        samples={"images": len(images), "pairs": len(values)},
        settings={
            "measure": measure_name,
            "kernel_size": kernel,
            "data_range": "[-1, 1] mapped to [0, 1]",
            "seed": seed,
        },
        higher_is_better=None,
        details={"std": float(values.std()) if len(values) > 1 else 0.0},
        note=f"mean {measure_name.replace('_', '-').upper()} between pairs of {role} images: lower is more diverse, "
        "1 is identical images; compare generated with real.",
    )


def singan_diversity(generated: torch.Tensor, real: torch.Tensor) -> MetricResult:
    """SinGAN's diversity (see the module docstring).

    Args:
        generated: (M, C, *spatial), M >= 2.
        real: (1, C, *spatial), the training image at the generated shape.
    """
    check_comparable(real, generated)
    require_count(generated, MIN_SAMPLES, "generated", "SinGAN's diversity")
    real_std = float(real.float().std())
    if real_std == 0.0:
        raise BadInputError(
            "the real image is constant, so SinGAN's diversity is undefined; give an image with content."
        )
    value = float(generated.float().std(dim=0).mean()) / real_std
    return MetricResult(
        name="singan_diversity",
        value=value,
        samples={"real": len(real), "generated": len(generated)},
        settings={
            "definition": "mean over voxels of the std over samples / std of the real image (Shaham et al. 2019)"
        },
        higher_is_better=None,
        note="0 when all samples are identical; SinGAN reports values around 0.3-0.5 for natural images.",
    )
