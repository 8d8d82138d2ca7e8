"""The embedded sample data: the MNI152 T1 volume, its axial slices and scikit-image's 2D images."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medgan.data import foreground_mask, sample_slices, sample_volume, sample_volume_path
from medgan.data.sample import axial_to_picture


@pytest.fixture(scope="module")
def volume() -> MetaTensor:
    return sample_volume()


def test_asset_is_small_uint8_ras_at_1_5_mm():
    path = Path(sample_volume_path())
    image = nib.load(path)
    assert path.stat().st_size < 2_000_000
    assert (path.parent / "LICENSE_MNI152.txt").is_file()
    assert image.shape == (131, 155, 126)
    assert image.get_data_dtype() == np.uint8
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    np.testing.assert_allclose(image.header.get_zooms(), (1.5, 1.5, 1.5))


def test_asset_covers_the_source_field_of_view_centre():
    """The 1 mm template (197x233x189, origin -98, -134, -72) has its centre at world (0, -18, 22)."""
    image = nib.load(sample_volume_path())
    centre = image.affine @ np.append((np.asarray(image.shape) - 1) / 2, 1)
    np.testing.assert_allclose(centre[:3], (0.0, -18.0, 22.0))


def test_sample_volume_is_channel_first_float_with_affine(volume):
    assert isinstance(volume, MetaTensor)
    assert volume.shape == (1, 131, 155, 126)
    assert volume.dtype == torch.float32
    np.testing.assert_allclose(volume.pixdim[:3], (1.5, 1.5, 1.5))
    assert 0 <= float(volume.min()) and float(volume.max()) <= 255
    assert 0.15 < float(foreground_mask(volume).float().mean()) < 0.35  # brain only, background zero


def test_sample_slices_keep_axial_slices_with_a_quarter_of_the_largest_brain_area(volume):
    slices = sample_slices()
    assert slices.shape == (80, 1, 155, 131)
    assert slices.dtype == torch.float32
    areas = foreground_mask(volume).sum(dim=(0, 1, 2))
    kept = (areas >= 0.25 * areas.max()).nonzero().flatten()
    expected = volume.as_tensor()[..., kept].permute(3, 0, 1, 2)  # (N, 1, X, Y)
    assert torch.equal(slices, expected.transpose(-2, -1).flip(-2))  # pictures: anterior row first


def test_axial_picture_puts_anterior_at_the_top_and_right_on_the_right():
    slice_xy = torch.zeros(4, 6)
    slice_xy[-1, -1] = 1.0  # most right, most anterior voxel
    picture = axial_to_picture(slice_xy)
    assert picture.shape == (6, 4) and picture[0, -1] == 1.0


def test_sample_slices_fraction_controls_how_many():
    assert len(sample_slices(0.0)) > len(sample_slices(0.25)) > len(sample_slices(0.75)) > 0
