"""Generate images with a trained generator and write them for people and viewers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from medgan.data.intensity import denormalize
from medgan.errors import BadInputError
from medgan.output_manifest import check_output_dir, record_outputs, remove_recorded
from medgan.utils import seeded
from medgan.visualize import preview_grid, preview_tile, save_png

logger = logging.getLogger(__name__)
SAMPLE_PREFIX = "sample_"
SAMPLE_GRID = "samples.png"
SAMPLE_PATTERNS = (f"{SAMPLE_PREFIX}*", SAMPLE_GRID)  # what one inference writes, and a second one would replace


def write_image(
    image: torch.Tensor,
    path: Path,
    affine: np.ndarray | None = None,
    intensity_range: tuple[float, float] | None = None,
) -> Path:
    """Write one generated image (C, *spatial), values in [-1, 1]: a PNG for 2D (see :func:`png_picture`); for 3D
    a float32 NIfTI with ``affine`` (identity if None) and values mapped back to ``intensity_range`` (kept in
    [-1, 1] if None)."""
    if image.dim() == 3:
        path = path.with_suffix(".png")
        save_png(png_picture(image, intensity_range), str(path))
        return path
    path = path.with_suffix(".nii.gz")
    image = image.float().cpu()
    if intensity_range is not None:
        image = denormalize(image, *intensity_range)
    array = image.numpy()
    array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else np.asarray(affine)), str(path))
    return path


def png_picture(image: torch.Tensor, intensity_range: tuple[float, float] | None = None) -> np.ndarray:
    """A 2D image (C, H, W) in [-1, 1] as PNG pixels (H, W[, C]) in the training image's units: mapped back to
    ``intensity_range`` and rounded, 8-bit when that range fits 0..255 (an 8-bit source), 16-bit (one channel)
    when it fits 0..65535; otherwise (no range, negative or larger values, which a PNG cannot hold) -1..1 is
    stretched over 0..255 as a display image."""
    if intensity_range is not None:
        low, high = (float(v) for v in intensity_range)
        channels = image.shape[0]
        dtype = np.uint8 if low >= 0 and high <= 255 else np.uint16 if low >= 0 and high <= 65535 else None
        if dtype is not None and (dtype is np.uint8 or channels == 1):
            values = denormalize(image.detach().float().cpu(), low, high).numpy()
            array = np.clip(np.rint(values), 0, np.iinfo(dtype).max).astype(dtype)
            return array[0] if channels == 1 else np.moveaxis(array, 0, -1)
    return preview_tile(image)


def resampled_affine(affine: np.ndarray, image_shape: list[int], output_shape: list[int]) -> np.ndarray:
    """The affine of an image of ``image_shape`` resampled to ``output_shape`` over the same field of view, so a
    generated volume overlays the training image in a viewer (voxel centres at (j + 0.5) * s - 0.5 of the input)."""
    scale = np.asarray(image_shape, np.float64) / np.asarray(output_shape, np.float64)
    dims = len(scale)
    resample = np.eye(4)
    resample[:dims, :dims] = np.diag(scale)
    resample[:dims, 3] = (scale - 1.0) / 2.0
    return np.asarray(affine, np.float64) @ resample


@torch.no_grad()
def generate_samples(
    generator: torch.nn.Module,
    latent_shape: Sequence[int],
    num_samples: int,
    seed: int = 0,
    batch_size: int = 16,
    generate: Callable | None = None,
) -> torch.Tensor:
    """``num_samples`` images from ``generator`` in eval mode.

    Latents (B, *latent_shape) are drawn in batches of ``batch_size`` from a CPU generator seeded with ``seed``, as
    ``generate_and_save`` draws them, so for a generator that takes all its randomness from the latents (DCGAN) the
    same seed gives the images the inference config writes. ``generate(generator, latents)`` replaces
    ``generator(latents)`` (e.g. ``medgan.inference.consingan_sampler``); noise it draws from torch's global RNG
    (ConSinGAN's later stages) is seeded with ``seed`` too, so the samples depend on ``seed`` only.

    Returns:
        (num_samples, C, *spatial) float32 on the CPU.
    """
    if num_samples < 1:
        raise BadInputError(f"num_samples is {num_samples}; set --num_samples to 1 or more.")
    generate = generate or (lambda network, z: network(z))
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    generator.eval()
    images = []
    with seeded(seed, device):
        for start in range(0, num_samples, batch_size):
            count = min(batch_size, num_samples - start)
            latents = torch.randn((count, *latent_shape), generator=rng).to(device)
            images.append(generate(generator, latents).float().cpu())
    return torch.cat(images)


@torch.no_grad()
def generate_and_save(
    generator: torch.nn.Module,
    latent_shape: tuple[int, ...] | list[int],
    num_samples: int,
    output_dir: str,
    seed: int = 0,
    batch_size: int = 16,
    overwrite: bool = False,
    generate: Callable | None = None,
    affine: np.ndarray | None = None,
    intensity_range: tuple[float, float] | None = None,
    later_outputs: Sequence[str] = (),
) -> list[Path]:
    """Write ``num_samples`` images ``sample_0000.png`` (or ``.nii.gz``) and a preview grid ``samples.png``.

    The images are :func:`generate_samples`' (the same seed gives the same images, also in evaluation);
    ``affine`` and ``intensity_range`` go to :func:`write_image`. The folder is created only once the images
    exist (a failed generation leaves nothing); with ``overwrite``, the earlier samples and grid (exactly the files
    :mod:`medgan.output_manifest` recorded) are removed first, so the folder never mixes two runs' samples, and a
    file of those names that medgan did not write is refused, never replaced. ``later_outputs``: the name patterns of
    what later steps of the same run write into the folder (StyleGAN2's latent exploration, SeFa, projection), checked
    here with the samples' before anything is written.
    """
    patterns = (*SAMPLE_PATTERNS, *later_outputs)
    folder = check_output_dir(output_dir, overwrite, patterns, "generated samples", create=False)
    images = generate_samples(generator, latent_shape, num_samples, seed, batch_size, generate)
    remove_recorded(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        write_image(image, folder / f"{SAMPLE_PREFIX}{i:04d}", affine, intensity_range)
        for i, image in enumerate(images)
    ]
    save_png(preview_grid(images), str(folder / SAMPLE_GRID))
    record_outputs(folder, [*paths, folder / SAMPLE_GRID])
    logger.info(f"wrote {num_samples} samples and a preview grid to {folder}")
    return paths


def consingan_sampler(
    stage_shapes: list[list[int]], start_stage: int = 0, start_image: torch.Tensor | None = None
) -> Callable:
    """``generate(generator, z)`` for :func:`generate_and_save` with a ConSinGAN generator: random samples at
    ``stage_shapes`` (retargeting when they differ from the training shapes), or, with ``start_image``
    (1, C, *spatial), SinGAN-style harmonisation/editing: the image enters at ``start_stage`` and the later stages
    add their noise and detail (``z`` then only sets the batch size)."""

    def sample(generator: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
        if start_image is None:
            return generator.generate(z, stage_shapes=stage_shapes)
        image = start_image.to(z.device).expand(len(z), *start_image.shape[1:])
        return generator.generate(start_image=image, start_stage=start_stage, stage_shapes=stage_shapes)

    return sample


def truncated_sampler(truncation_psi: float = 1.0) -> Callable:
    """``generate(generator, z)`` for :func:`generate_and_save` with a style-based generator: ``generator(z,
    truncation_psi)``, w pulled towards ``w_avg`` by ``1 - truncation_psi`` (Karras et al. 2019, Sec. 3.2)."""

    def sample(generator: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
        return generator(z, truncation_psi)

    return sample
