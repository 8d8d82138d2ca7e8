"""Generate images with a trained generator and write them for people and viewers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from medgan.errors import BadInputError
from medgan.visualize import preview_grid, preview_tile, save_png

logger = logging.getLogger(__name__)
SAMPLE_PREFIX = "sample_"


def write_image(image: torch.Tensor, path: Path, affine: np.ndarray | None = None) -> Path:
    """Write one generated image (C, *spatial), values in [-1, 1]: PNG for 2D, float32 NIfTI for 3D."""
    if image.dim() == 3:
        path = path.with_suffix(".png")
        save_png(preview_tile(image), str(path))
    else:
        path = path.with_suffix(".nii.gz")
        array = image.float().cpu().numpy()
        array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
        nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), str(path))
    return path


def check_output_dir(output_dir: str | Path, overwrite: bool) -> Path:
    """Create ``output_dir``; refuse one that already holds generated samples unless ``overwrite``."""
    folder = Path(output_dir)
    if not overwrite and folder.is_dir() and any(folder.glob(f"{SAMPLE_PREFIX}*")):
        raise BadInputError(
            f"{folder} already holds generated samples; set --output_dir to a new folder or pass --overwrite true."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
) -> list[Path]:
    """Write ``num_samples`` images ``sample_0000.png`` (or ``.nii.gz``) and a preview grid ``samples.png``.

    Latents come from a generator seeded with ``seed``, so the same seed gives the same images.
    """
    if num_samples < 1:
        raise BadInputError(f"num_samples is {num_samples}; set --num_samples to 1 or more.")
    folder = check_output_dir(output_dir, overwrite)
    generate = generate or (lambda network, z: network(z))
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    generator.eval()
    images = []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        latents = torch.randn((count, *latent_shape), generator=rng).to(device)
        images.append(generate(generator, latents).float().cpu())
    images = torch.cat(images)
    paths = [write_image(image, folder / f"{SAMPLE_PREFIX}{i:04d}") for i, image in enumerate(images)]
    save_png(preview_grid(images), str(folder / "samples.png"))
    logger.info(f"wrote {num_samples} samples and a preview grid to {folder}")
    return paths
