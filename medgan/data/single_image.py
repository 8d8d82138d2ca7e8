"""The one training image of a single-image GAN, with what is needed to write generated images like it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Orientation

from medgan.data.image_set import RAS_LABELS, load_image
from medgan.data.intensity import foreground_slice_indices, normalize
from medgan.data.sample import axial_to_picture, sample_volume
from medgan.errors import BadInputError

logger = logging.getLogger(__name__)


@dataclass
class SingleImage:
    """A training image scaled into [-1, 1].

    Attributes:
        image: (1, C, *spatial) float32 in [-1, 1].
        intensity_range: the (low, high) intensities mapped to -1 and 1, to write outputs in the input's units.
        affine: 4x4 voxel-to-world (RAS) matrix of the image (identity for a 2D picture).
    """

    image: torch.Tensor
    intensity_range: tuple[float, float]
    affine: np.ndarray


def _largest_axial_slice(volume: torch.Tensor) -> torch.Tensor:
    """The axial slice (C, H, W picture) of a (C, X, Y, Z) RAS volume with the most foreground."""
    indices = foreground_slice_indices(volume, min_area_fraction=1.0)
    return axial_to_picture(volume[..., int(indices[0]) if len(indices) else volume.shape[-1] // 2])


def load_single_image(
    path: str | Path | None,
    spatial_dims: int,
    channels: int = 1,
    intensity_range: tuple[float, float] | None = None,
) -> SingleImage:
    """Read, check and scale the training image of a single-image GAN.

    Args:
        path: an image file (PNG/JPEG, NIfTI, NRRD, MHA, .npy) or a DICOM series folder; None or "" for the
            embedded MNI152 T1 (for ``spatial_dims`` 2: its axial slice with the most brain).
        spatial_dims: 2 or 3. A volume given to a 2D model is reduced to its axial slice with the most foreground.
        channels: channels of the model.
        intensity_range: scale with this (low, high) instead of the image's own robust range, e.g. the training
            image's, for an image injected into a trained model.

    Raises:
        BadInputError: one sentence for an unreadable, empty, NaN, 4D, wrongly-channelled or 2D-for-3D image.
    """
    if spatial_dims not in (2, 3):
        raise BadInputError(f"spatial_dims {spatial_dims!r} is not supported; use 2 or 3.")
    name = str(path) if path else "the embedded MNI152 T1"
    if path and not Path(path).exists():
        raise BadInputError(f"image {path} does not exist; set --image to the path of a training image.")
    image = load_image(Path(path)) if path else sample_volume()
    if image.ndim == 4 and image.shape[-1] == 1:  # a single-slice volume is a 2D image
        image = image[..., 0]
    dims = image.ndim - 1
    if dims == 3 and image.shape[0] > 1 and channels == 1:
        raise BadInputError(
            f"{name} is a 4D image (shape {tuple(image.shape[1:])} x {image.shape[0]}); give one 3D volume."
        )
    if dims not in (2, 3):
        raise BadInputError(f"{name} has {dims} spatial dimensions; give a 2D image or a 3D volume.")
    if image.shape[0] != channels:
        raise BadInputError(
            f"{name} has {image.shape[0]} channel(s) but the model has channels={channels}; "
            f"give a {channels}-channel image or set --channels {image.shape[0]}."
        )
    if not torch.isfinite(image).all():
        raise BadInputError(f"{name} holds NaN or infinite values; fix the image.")
    if image.min() == image.max():
        raise BadInputError(f"{name} is empty (every value is {float(image.min())}); give an image with content.")
    if dims < spatial_dims:
        raise BadInputError(f"{name} is a 2D image but spatial_dims=3; give a volume or set --spatial_dims 2.")
    affine = np.eye(4)
    if dims == 3:
        image = Orientation(axcodes="RAS", labels=RAS_LABELS)(image)
        affine = np.asarray(image.affine, dtype=np.float64)
        if spatial_dims == 2:
            logger.info(f"{name} is a volume: training the 2D model on its axial slice with the most foreground.")
            image = _largest_axial_slice(image)
            affine = np.eye(4)
    scaled, intensity_range = normalize(torch.as_tensor(image).float(), intensity_range=intensity_range)
    return SingleImage(scaled.as_subclass(torch.Tensor)[None].contiguous(), intensity_range, affine)
