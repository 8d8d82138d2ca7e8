"""The MedImageGAN table: full-reference image-quality measures between generated and real 2D images, with piq.

MedImageGAN (A. Molina, github.com/AlexisMolinaMR/MedImageGAN, DCGAN/SNGAN for medical images) reports PSNR, SSIM
(Wang et al. 2004), MS-GMSD (Zhang et al. 2017), MDSI (Nafchi et al. 2016) and HaarPSI (Reisenhofer et al. 2018)
between generated images and real ones. These measures are *full-reference*: they were designed for an image and a
degraded copy of it. A generated image has no counterpart, so here every figure is an **unpaired** comparison: the
mean of the measure over (generated, real) pairs, all of them or ``max_pairs`` drawn at random. The values say how
close, pixel by pixel, generated images are to real ones on average; they are not quality scores in the usual sense
(a perfect generator does not reach the identical-image value) and reward blurry, average-looking images. Read them
with the distribution and diversity figures.

Images in [-1, 1] are mapped to [0, 1] and passed with ``data_range=1`` and piq's default parameters; colour images
use piq's RGB handling, grey ones its grey path (MDSI repeats the grey channel). piq's measures are 2D only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import piq
import torch

from medgan.errors import BadInputError
from medgan.metrics.checks import check_comparable, sample_pairs, to_unit_range
from medgan.metrics.result import MetricResult

MAX_PAIRS = 1024
PAIR_BATCH_SIZE = 64
DATA_RANGE = 1.0


@dataclass(frozen=True)
class PiqMeasure:
    """One piq function, how to read it, and the smallest image side it accepts."""

    function: Callable[..., torch.Tensor]
    higher_is_better: bool
    min_side: int
    reference: str


PIQ_MEASURES = {
    "psnr": PiqMeasure(piq.psnr, True, 1, "peak signal-to-noise ratio, dB"),
    "ssim": PiqMeasure(piq.ssim, True, 11, "Wang et al. 2004, 11-pixel Gaussian window"),
    "ms_gmsd": PiqMeasure(piq.multi_scale_gmsd, False, 17, "Zhang et al. 2017, a deviation: 0 for identical images"),
    "mdsi": PiqMeasure(piq.mdsi, False, 1, "Nafchi et al. 2016, a deviation: 0 for identical images"),
    "haarpsi": PiqMeasure(piq.haarpsi, True, 16, "Reisenhofer et al. 2018"),
}
"""The measures of the table, by name; ``min_side`` from piq's own checks (window, 4 scales of MS-GMSD, 3 Haar
scales of HaarPSI)."""


@torch.no_grad()
def _measure_pairs(
    function: Callable[..., torch.Tensor],
    generated: torch.Tensor,
    real: torch.Tensor,
    first: torch.Tensor,
    second: torch.Tensor,
) -> torch.Tensor:
    values = []
    for start in range(0, len(first), PAIR_BATCH_SIZE):
        x = generated[first[start : start + PAIR_BATCH_SIZE]]
        y = real[second[start : start + PAIR_BATCH_SIZE]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # MDSI's note that grey images are repeated to RGB
            values.append(function(x, y, data_range=DATA_RANGE, reduction="none").flatten().float())
    return torch.cat(values)


def unpaired_image_quality(
    real: torch.Tensor, generated: torch.Tensor, max_pairs: int = MAX_PAIRS, seed: int = 0
) -> tuple[list[MetricResult], dict[str, str]]:
    """PSNR, SSIM, MS-GMSD, MDSI and HaarPSI between generated and real 2D images, unpaired (module docstring).

    Args:
        real: (N, C, H, W) in [-1, 1], C = 1 or 3.
        generated: (M, C, H, W) in [-1, 1], same shape.
        max_pairs: (generated, real) pairs used at most.
        seed: seeds the choice of pairs.

    Returns:
        the figures (named ``unpaired_<measure>``; ``details["std"]`` is the spread over pairs), and the measures
        skipped because the images are smaller than they accept, with the reason.

    Raises:
        BadInputError: for 3D images or sets that cannot be compared.
    """
    check_comparable(real, generated)
    if real.ndim != 4:
        raise BadInputError("the MedImageGAN measures (piq) are 2D only; evaluate a 2D model.")
    first, second = sample_pairs(len(generated), len(real), max_pairs, seed)
    pairing = (
        "all (generated, real) pairs" if len(first) == len(generated) * len(real) else "random (generated, real) pairs"
    )
    generated_unit, real_unit = to_unit_range(generated), to_unit_range(real)
    results, skipped = [], {}
    for name, measure in PIQ_MEASURES.items():
        if min(real.shape[2:]) < measure.min_side:
            skipped[f"unpaired_{name}"] = f"piq's {name} needs images of at least {measure.min_side} pixels a side"
            continue
        values = _measure_pairs(measure.function, generated_unit, real_unit, first, second)
        results.append(
            MetricResult(
                name=f"unpaired_{name}",
                value=float(values.mean()),
                samples={"real": len(real), "generated": len(generated), "pairs": len(values)},
                settings={
                    "function": f"piq.{measure.function.__name__}",
                    "data_range": "[-1, 1] mapped to [0, 1]",
                    "pairing": pairing,
                    "seed": seed,
                },
                higher_is_better=measure.higher_is_better,
                details={"std": float(values.std()) if len(values) > 1 else 0.0},
                note=f"unpaired comparison of generated with real images ({measure.reference}).",
            )
        )
    return results, skipped
