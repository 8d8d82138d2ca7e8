"""ConSinGAN's training image (medgan.data.single_image.load_single_image): what is not one image is one sentence."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medgan.data.single_image import load_single_image
from medgan.errors import BadInputError

SERIES = np.random.default_rng(0).random((12, 10, 8, 3)).astype(np.float32)  # three volumes in one file


@pytest.mark.parametrize(
    ("make", "sentence"),
    [(lambda folder: (folder / "notes.txt").write_text("a note") and folder / "notes.txt",
      r"notes\.txt is not an image medgan reads \(PNG, JPEG"),
     (lambda folder: (folder / "empty").mkdir() or folder / "empty",
      r"empty is a folder without DICOM \(\.dcm\) files; give an image file or a DICOM series"),
     (lambda folder: folder / "missing.png", r"image \S+missing\.png does not exist; set --image"),
     (lambda folder: nib.save(nib.Nifti1Image(SERIES, np.eye(4)),
                              folder / "series.nii.gz") or folder / "series.nii.gz",
      r"series\.nii\.gz is a 4D image \(shape \(12, 10, 8\) x 3\); give one 3D volume")],
)  # fmt: skip
def test_what_is_not_one_image_is_one_sentence(tmp_path: Path, make, sentence):
    with pytest.raises(BadInputError, match=sentence):
        load_single_image(make(tmp_path), spatial_dims=2)
