"""What inference writes (medgan.inference): 2D PNGs in the training image's intensity units, 3D NIfTI with the
training image's range and affine."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from medgan.errors import BadInputError
from medgan.inference import generate_and_save, png_picture, write_image
from medgan.output_manifest import MANIFEST, recorded_outputs


def test_an_8_bit_training_range_gives_an_8_bit_png_in_that_range(tmp_path):
    """A slice with intensities 0..214 gives samples in 0..214 (before: -1..1 was stretched over 0..255)."""
    image = torch.tensor([[[-1.0, 0.0], [0.5, 1.0]]])  # (C, H, W)
    path = write_image(image, tmp_path / "sample", intensity_range=(0.0, 214.0))
    pixels = np.array(Image.open(path))
    assert path.suffix == ".png" and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels, [[0, 107], [160, 214]])  # -1 -> 0, 0 -> 107, 0.5 -> 160.5 -> 160, 1 -> 214


def test_a_16_bit_range_gives_a_16_bit_png():
    picture = png_picture(torch.tensor([[[-1.0, 1.0]]]), (100.0, 4000.0))
    assert picture.dtype == np.uint16 and picture.tolist() == [[100, 4000]]


def test_rgb_and_unrepresentable_ranges():
    rgb = png_picture(torch.full((3, 2, 2), 1.0), (0.0, 200.0))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8 and (rgb == 200).all()
    negative = png_picture(torch.tensor([[[-1.0, 1.0]]]), (-1000.0, 3000.0))  # CT units: a display image
    assert negative.tolist() == [[0, 255]]
    assert png_picture(torch.tensor([[[-1.0, 1.0]]])).tolist() == [[0, 255]]  # no range known


def test_a_3d_sample_is_nifti_in_intensity_units_with_the_affine(tmp_path):
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    path = write_image(torch.zeros(1, 2, 3, 4), tmp_path / "sample", affine, intensity_range=(10.0, 30.0))
    written = nib.load(path)
    assert path.name == "sample.nii.gz" and written.shape == (2, 3, 4)
    np.testing.assert_allclose(written.get_fdata(), 20.0)
    np.testing.assert_array_equal(written.affine, affine)


def test_samples_are_not_replaced_or_mixed(tmp_path):
    """A user's own samples.png is never replaced, also with overwrite; earlier samples are refused without
    overwrite and, with it, exactly the recorded files go first, so fewer new samples do not sit beside old ones and
    a user's other files stay; a failed generation creates no folder."""
    generator = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Unflatten(1, (1, 4, 4)), torch.nn.Tanh())
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "samples.png").write_bytes(b"the user's own figure")
    for overwrite in (False, True):
        with pytest.raises(BadInputError, match="holds samples.png, which medgan did not write there"):
            generate_and_save(generator, [4], 3, str(folder), overwrite=overwrite)
    assert (folder / "samples.png").read_bytes() == b"the user's own figure"
    (folder / "samples.png").rename(tmp_path / "figure.png")
    (folder / "notes.txt").write_text("the user's notes")
    generate_and_save(generator, [4], 3, str(folder))
    with pytest.raises(BadInputError, match="already holds generated samples; .* pass --overwrite true"):
        generate_and_save(generator, [4], 3, str(folder))
    generate_and_save(generator, [4], 1, str(folder), overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST, "notes.txt", "sample_0000.png", "samples.png"]
    assert recorded_outputs(folder) == {"sample_0000.png", "samples.png"}
    with pytest.raises(RuntimeError):
        generate_and_save(generator, [5], 1, str(tmp_path / "failed"))  # wrong latent size
    assert not (tmp_path / "failed").exists()
