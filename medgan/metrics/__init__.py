"""Evaluation of generated images, 2D and 3D, with nothing downloaded.

Distribution distances (real set vs generated set): PGGAN's sliced Wasserstein distance on Laplacian-pyramid
patches, a foreground intensity-histogram distance, MONAI's linear MMD, and FID / KID / precision / recall on the
features of a user-supplied TorchScript network. Diversity: pairwise MS-SSIM; SinGAN's pixel diversity. Single-image
GANs: reconstruction error and patch SWD per stage. The MedImageGAN table (piq, 2D, unpaired): PSNR, SSIM, MS-GMSD,
MDSI, HaarPSI. :func:`evaluate_generator` and :func:`evaluate_single_image_generator` run them all and write
``metrics.json`` and ``report.png``.
"""

from medgan.inference import generate_samples
from medgan.metrics.diversity import mean_pairwise_similarity, singan_diversity
from medgan.metrics.evaluate import evaluate_generator, evaluate_single_image_generator
from medgan.metrics.features import (
    extract_features,
    feature_distribution_metrics,
    load_feature_extractor,
    single_image_fid,
)
from medgan.metrics.image_quality import PIQ_MEASURES, unpaired_image_quality
from medgan.metrics.intensity import foreground_values, intensity_histogram_distance, linear_mmd
from medgan.metrics.result import MetricResult
from medgan.metrics.stages import stage_patch_swd, stage_reconstruction_errors
from medgan.metrics.swd import laplacian_pyramid, sliced_wasserstein_distance

__all__ = [
    "PIQ_MEASURES",
    "MetricResult",
    "evaluate_generator",
    "evaluate_single_image_generator",
    "extract_features",
    "feature_distribution_metrics",
    "foreground_values",
    "generate_samples",
    "intensity_histogram_distance",
    "laplacian_pyramid",
    "linear_mmd",
    "load_feature_extractor",
    "mean_pairwise_similarity",
    "single_image_fid",
    "singan_diversity",
    "sliced_wasserstein_distance",
    "stage_patch_swd",
    "stage_reconstruction_errors",
    "unpaired_image_quality",
]
