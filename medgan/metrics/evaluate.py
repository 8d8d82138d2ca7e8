"""Evaluate a trained generator against real images: sample, compute every figure that applies, write
``metrics.json`` and ``report.png``. The bundles' ``evaluate.json`` call these two functions.

- :func:`evaluate_generator`: a generator of a set of images (DCGAN, SNGAN): patch SWD, foreground-histogram
  distance, MMD, pairwise MS-SSIM of generated and of real images, the unpaired MedImageGAN table (2D), and FID / KID /
  precision / recall when a feature extractor is given.
- :func:`evaluate_single_image_generator`: a ConSinGAN generator against its one training image: SinGAN's diversity,
  pairwise MS-SSIM of the samples, reconstruction error and patch SWD at every stage, foreground-histogram distance,
  the unpaired MedImageGAN table (2D), and SIFID when a feature extractor with spatial output is given.

Figures that do not apply are listed under ``"skipped"`` in ``metrics.json`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

import medgan
from medgan.errors import BadInputError
from medgan.inference import consingan_sampler, generate_samples
from medgan.metrics.checks import check_comparable, check_image_set, require_count
from medgan.metrics.diversity import SSIM_KERNEL_SIZE, mean_pairwise_similarity, singan_diversity
from medgan.metrics.features import (
    PR_NEAREST_K,
    extract_features,
    extractor_identity,
    feature_distribution_metrics,
    load_feature_extractor,
    single_image_fid,
)
from medgan.metrics.image_quality import PIQ_MEASURES, unpaired_image_quality
from medgan.metrics.intensity import foreground_values, intensity_histogram_distance, linear_mmd
from medgan.metrics.output import METRICS_FILE, REPORT_FILE, write_metrics
from medgan.metrics.report import read_losses, save_report
from medgan.metrics.result import MetricResult
from medgan.metrics.stages import stage_patch_swd, stage_reconstruction_errors
from medgan.metrics.swd import sliced_wasserstein_distance
from medgan.output_manifest import check_output_dir, record_outputs, remove_recorded

logger = logging.getLogger(__name__)

SET_MIN_IMAGES = 2
"""Images each set needs for the MMD and the pairwise MS-SSIM."""
MAX_PAIRS = 1024
LOSSES_FILE = "losses.csv"
EMBEDDED_SOURCE = "the embedded sample data"
FEATURE_METRICS = ("fid", "kid", "precision", "recall")
NO_EXTRACTOR = "no --feature_extractor given (these need a feature network; none ships with medgan)"
COMPARABILITY = (
    "SWD, MMD and the histogram distance are computed on the images as the model outputs them ([-1, 1]); FID, KID, "
    "precision/recall and SIFID are comparable only between evaluations with the same feature_extractor file."
)


def _header(
    bundle: str,
    ckpt_path: str | Path,
    real: torch.Tensor,
    real_source: str | Path | None,
    generated: torch.Tensor,
    seed: int,
) -> dict:
    """The part of metrics.json before the figures: what was evaluated against what."""
    return {
        "bundle": bundle,
        "model": str(ckpt_path),
        "medgan_version": medgan.__version__,
        "real": {
            "source": str(real_source) if real_source else EMBEDDED_SOURCE,
            "count": len(real),
            "shape": list(real.shape[1:]),
        },
        "generated": {"count": len(generated), "seed": seed, "shape": list(generated.shape[1:])},
        "comparability": COMPARABILITY,
    }


def _image_quality_table(real: torch.Tensor, generated: torch.Tensor, max_pairs: int, seed: int, skipped: dict):
    """The MedImageGAN figures for 2D images; for 3D each is recorded as skipped."""
    if real.ndim != 4:
        skipped.update({f"unpaired_{name}": "piq's measures are 2D only" for name in PIQ_MEASURES})
        return []
    results, too_small = unpaired_image_quality(real, generated, max_pairs, seed)
    skipped.update(too_small)
    return results


def _finish(
    folder: Path,
    header: dict,
    results: list[MetricResult],
    skipped: dict,
    real: torch.Tensor,
    generated: torch.Tensor,
    ckpt_path: str | Path,
    stage_curves: dict | None = None,
) -> dict:
    """Log the figures, write metrics.json and report.png (creating ``folder`` only now, so a failed evaluation
    leaves none; an earlier evaluation's recorded files go first); return the metrics.json content."""
    for result in results:
        logger.info(f"{result.name}: {result.value:.6g}")
    remove_recorded(folder)
    folder.mkdir(parents=True, exist_ok=True)
    content = write_metrics(folder / METRICS_FILE, header, results, skipped)
    save_report(
        folder / REPORT_FILE,
        real,
        generated,
        foreground_values(real),
        foreground_values(generated),
        losses=read_losses(Path(ckpt_path).parent / LOSSES_FILE),
        stage_curves=stage_curves,
        title=f"{header['bundle']}: {Path(ckpt_path).name}",
    )
    record_outputs(folder, [folder / METRICS_FILE, folder / REPORT_FILE])
    logger.info(f"wrote {folder / METRICS_FILE} and {folder / REPORT_FILE}")
    return content


def evaluate_generator(
    generator: torch.nn.Module,
    latent_shape: Sequence[int],
    real: torch.Tensor,
    num_samples: int,
    output_dir: str | Path,
    bundle: str,
    ckpt_path: str | Path,
    real_source: str | Path | None = None,
    feature_extractor: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 16,
    overwrite: bool = False,
    kernel_size: int = SSIM_KERNEL_SIZE,
    max_pairs: int = MAX_PAIRS,
) -> dict:
    """Evaluate a set-of-images generator (module docstring) and write ``metrics.json`` and ``report.png``.

    Args:
        generator: maps latents (B, *latent_shape) to images (B, C, *spatial) in [-1, 1]; weights loaded.
        latent_shape: shape of one latent, e.g. ``[latent_size]``.
        real: the real images (N, C, *spatial) in [-1, 1] at the model's output shape, N >= 2 (>= 6 with a feature
            extractor).
        num_samples: images to generate, >= 2 (>= 6 with a feature extractor).
        output_dir: folder of ``metrics.json`` and ``report.png``.
        bundle: the bundle's name, recorded.
        ckpt_path: the model file, recorded; its folder's ``losses.csv`` goes into the report.
        real_source: where ``real`` came from, recorded (None: the embedded sample data).
        feature_extractor: a TorchScript file for FID / KID / precision / recall; None skips them.
        seed: seeds the latents (as ``inference.json``), the patches, projections and pair choices.
        batch_size: generator batch size.
        overwrite: replace an earlier evaluation in ``output_dir``.
        kernel_size: (MS-)SSIM window of the diversity figures.
        max_pairs: pairs used at most by the pairwise figures.

    Returns:
        the content of ``metrics.json``.

    Raises:
        BadInputError: for an existing evaluation, too few real images or samples, a bad extractor, or real images
            of another dimensionality, channel count or shape than the generated ones.
    """
    folder = check_output_dir(output_dir, overwrite, (METRICS_FILE, REPORT_FILE), "an evaluation", create=False)
    minimum = PR_NEAREST_K + 1 if feature_extractor else SET_MIN_IMAGES
    what = "precision/recall" if feature_extractor else "the MMD and the pairwise MS-SSIM"
    check_image_set(real, "real")
    require_count(real, minimum, "real", what)
    require_count(num_samples, minimum, "generated", what)
    device = next(generator.parameters()).device
    extractor = load_feature_extractor(feature_extractor, device) if feature_extractor else None
    generated = generate_samples(generator, latent_shape, num_samples, seed, batch_size)
    check_comparable(real, generated)
    results = [
        sliced_wasserstein_distance(real, generated, seed=seed),
        intensity_histogram_distance(real, generated, seed=seed),
        linear_mmd(real, generated, seed=seed),
        mean_pairwise_similarity(generated, "generated", kernel_size, max_pairs, seed),
        mean_pairwise_similarity(real, "real", kernel_size, max_pairs, seed),
    ]
    skipped = {}
    results += _image_quality_table(real, generated, max_pairs, seed, skipped)
    if extractor is None:
        skipped.update(dict.fromkeys(FEATURE_METRICS, NO_EXTRACTOR))
    else:
        results += feature_distribution_metrics(
            extract_features(extractor, real), extract_features(extractor, generated),
            extractor_identity(feature_extractor), seed,
        )  # fmt: skip
    header = _header(bundle, ckpt_path, real, real_source, generated, seed)
    return _finish(folder, header, results, skipped, real, generated, ckpt_path)


def evaluate_single_image_generator(
    generator: torch.nn.Module,
    reals: Sequence[torch.Tensor],
    num_samples: int,
    output_dir: str | Path,
    bundle: str,
    ckpt_path: str | Path,
    real_source: str | Path | None = None,
    feature_extractor: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 1,
    overwrite: bool = False,
    kernel_size: int = SSIM_KERNEL_SIZE,
    max_pairs: int = MAX_PAIRS,
) -> dict:
    """Evaluate a ConSinGAN generator against its training image (module docstring); write ``metrics.json`` and
    ``report.png``.

    Args:
        generator: a :class:`medgan.networks.ConSinGANGenerator` with its weights loaded.
        reals: the training image at every built stage's shape, coarsest first, each (1, C, *stage_shape) in [-1, 1]
            (``medgan.data.pyramid.image_pyramid`` of the image and the model's ``stage_shapes``).
        num_samples: random samples to generate, >= 2.
        The other arguments are those of :func:`evaluate_generator`; ``feature_extractor`` is used for SIFID and
        must return feature maps (B, F, *spatial).

    Returns:
        the content of ``metrics.json``.
    """
    folder = check_output_dir(output_dir, overwrite, (METRICS_FILE, REPORT_FILE), "an evaluation", create=False)
    require_count(num_samples, SET_MIN_IMAGES, "generated", "SinGAN's diversity and the pairwise MS-SSIM")
    if len(reals) < generator.num_stages:
        raise BadInputError(
            f"the real pyramid has {len(reals)} levels but the generator {generator.num_stages} stages; "
            "build it from the model's stage_shapes."
        )
    real = reals[generator.num_stages - 1].float().cpu()
    check_image_set(real, "real")
    device = next(generator.parameters()).device
    extractor = load_feature_extractor(feature_extractor, device) if feature_extractor else None
    stage_shapes = generator.stage_shapes.tolist()[: generator.num_stages]
    generated = generate_samples(
        generator, [generator.out_channels, *stage_shapes[0]], num_samples, seed, batch_size,
        consingan_sampler(stage_shapes),
    )  # fmt: skip
    check_comparable(real, generated)
    reconstruction = stage_reconstruction_errors(generator, reals)
    patch_swd = stage_patch_swd(generator, reals, num_samples, seed)
    results = [
        singan_diversity(generated, real),
        mean_pairwise_similarity(generated, "generated", kernel_size, max_pairs, seed),
        reconstruction,
        patch_swd,
        intensity_histogram_distance(real, generated, seed=seed),
    ]
    one_image = "there is one real image, not a set"
    skipped = {"diversity_real": one_image, "mmd": one_image}
    results += _image_quality_table(real, generated, max_pairs, seed, skipped)
    skipped.update(dict.fromkeys(FEATURE_METRICS, one_image + " (SIFID is the single-image figure)"))
    if extractor is None:
        skipped["sifid"] = NO_EXTRACTOR
    else:
        sifid = single_image_fid(extractor, real, generated, extractor_identity(feature_extractor))
        if sifid is None:
            skipped["sifid"] = "the feature extractor returns vectors; SIFID needs feature maps (B, F, *spatial)"
        else:
            results.append(sifid)
    header = _header(bundle, ckpt_path, real, real_source, generated, seed)
    curves = {
        "reconstruction MSE": reconstruction.details["per_stage"],
        "patch SWD x1e3": patch_swd.details["per_stage"],
    }
    return _finish(folder, header, results, skipped, real, generated, ckpt_path, curves)
