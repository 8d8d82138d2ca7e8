"""Embedded sample data, so that a bundle trains with no ``dataset_dir`` and nothing downloads.

- 3D: the MNI ICBM152 2009a symmetric T1 template (brain only), 1.5 mm isotropic, 131x155x126, RAS, intensities
  0-255 as in the template (``assets/mni152_t1_1.5mm.nii.gz``, made by ``tools/make_sample_data.py``; licence in
  ``assets/LICENSE_MNI152.txt``).
- 2D: its axial slices.
"""

from importlib import resources

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImage

from medgan.data.intensity import foreground_slice_indices

SAMPLE_VOLUME_FILE = "mni152_t1_1.5mm.nii.gz"


def sample_volume_path() -> str:
    """Path of the embedded MNI152 T1 volume (.nii.gz)."""
    return str(resources.files("medgan.data").joinpath("assets", SAMPLE_VOLUME_FILE))


def sample_volume() -> MetaTensor:
    """The embedded T1 volume: (1, 131, 155, 126) float32 in the template's 0-255 units, axes R, A, S, with its
    1.5 mm affine in the metadata."""
    return LoadImage(image_only=True, ensure_channel_first=True, reader="NibabelReader", dtype=np.float32)(
        sample_volume_path()
    )


def sample_slices(min_area_fraction: float = 0.25) -> torch.Tensor:
    """Axial slices of the sample volume (cut along its last, inferior-to-superior axis, in that order) whose brain
    area is at least ``min_area_fraction`` of the largest slice's (foreground rule of ``medgan.data.intensity``).

    Returns:
        (N, 1, 155, 131) float32 (N = 80 at the default) in the template's 0-255 units, each slice a picture
        (see :func:`axial_to_picture`).
    """
    volume = sample_volume().as_tensor()
    slices = volume[..., foreground_slice_indices(volume, min_area_fraction)].permute(3, 0, 1, 2)
    return axial_to_picture(slices).contiguous()


def axial_to_picture(slices: torch.Tensor) -> torch.Tensor:
    """Axial slices (..., X, Y) of a RAS volume as pictures (..., H, W): anterior at the top, the patient's right
    on the right (neurological convention), rows first like a PNG."""
    return slices.transpose(-2, -1).flip(-2)
