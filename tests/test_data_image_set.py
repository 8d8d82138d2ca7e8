"""Loading training images from a folder (or the sample data) into one (N, C, *spatial) tensor in [-1, 1]."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from medgan.data import find_image_paths, load_training_images, read_images, validate_image_size
from medgan.errors import BadInputError

RNG = np.random.default_rng(0)


def _gray(height: int, width: int) -> np.ndarray:
    """uint8 (height, width), bright at the top, dark at the bottom."""
    rows = np.linspace(250, 10, height)[:, None]
    return np.repeat(rows, width, axis=1).astype(np.uint8)


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _brain_like(shape=(12, 10, 8)) -> np.ndarray:
    """float32 volume: zero background round a textured block whose axial area shrinks towards both ends."""
    volume = np.zeros(shape, np.float32)
    for z in range(shape[2]):
        half = min(z + 1, shape[2] - z) - 1  # 0, 1, 2, 3, 3, 2, 1, 0 for 8 slices
        volume[4 - half : 6 + half, 3 - half : 5 + half, z] = 100 + RNG.random() * 20  # areas 4, 16, 36, 64, ...
    return volume + (volume > 0) * RNG.random(shape).astype(np.float32)


def _nifti(path: Path, volume: np.ndarray, affine=None) -> Path:
    nib.save(nib.Nifti1Image(volume, np.eye(4) if affine is None else affine), path)
    return path


def _dicom_series(folder: Path, volume: np.ndarray, series_uids=None) -> Path:
    """Write (x, y, z) int16 ``volume`` as one .dcm file per axial slice."""
    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(volume.shape[2]):
        image = sitk.GetImageFromArray(volume[:, :, k].T[None].astype(np.int16))
        image.SetSpacing((1.0, 1.0, 2.0))
        image.SetOrigin((0.0, 0.0, 2.0 * k))
        series_uid = (series_uids or {}).get(k, "1.2.826.0.1.3680043.2.1125.1")
        tags = {
            "0020|000d": "1.2.826.0.1.3680043.2.1125.0",
            "0020|000e": series_uid,
            "0008|0018": f"{series_uid}.{k + 1}",
            "0020|0013": str(k + 1),
            "0020|0032": f"0\\0\\{2 * k}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0008|0060": "MR",
        }
        for tag, value in tags.items():
            image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(image)
    return folder


# --- shapes -------------------------------------------------------------------------------------------------------


def test_sample_data_2d_is_its_foreground_axial_slices():
    images = load_training_images(None, spatial_dims=2, image_size=64)
    assert images.shape == (80, 1, 64, 64)
    assert images.dtype == torch.float32
    assert float(images.min()) == pytest.approx(-1) and float(images.max()) <= 1


def test_sample_data_3d_is_one_volume():
    images = load_training_images("", spatial_dims=3, image_size=64)
    assert images.shape == (1, 1, 64, 64, 64)
    assert float(images.min()) == pytest.approx(-1) and float(images.max()) <= 1


def test_png_folder_2d(tmp_path):
    _png(tmp_path / "a.png", _gray(40, 20))
    _png(tmp_path / "b.jpg", _gray(30, 30))
    images = load_training_images(tmp_path, spatial_dims=2, image_size=64)
    assert images.shape == (2, 1, 64, 64)
    assert float(images.min()) >= -1 and float(images.max()) <= 1


def test_2d_images_are_row_major(tmp_path):
    (image,) = read_images(_png(tmp_path / "a.png", _gray(40, 20)), spatial_dims=2)
    assert image.shape == (1, 40, 20)
    assert image[0, :5].mean() > image[0, -5:].mean()  # the bright rows stay on top


def test_padding_keeps_the_aspect_ratio(tmp_path):
    _png(tmp_path / "tall.png", _gray(40, 20))  # padded to 40x40: columns 10-29 hold the image
    (image,) = load_training_images(tmp_path, spatial_dims=2, image_size=64)
    padding = torch.cat([image[0, :, :14], image[0, :, 50:]], dim=1)
    np.testing.assert_allclose(padding, -1, atol=1e-5)
    content = image[0, :, 20:44]
    np.testing.assert_allclose(content[0], 1, atol=1e-3)  # no padding above: the bright top row reaches the edge
    assert bool((content[:-1] >= content[1:]).all()) and float(content[:32].min()) > -0.5  # the gradient, unpadded


def test_rgb_needs_three_channels(tmp_path):
    _png(tmp_path / "c.png", RNG.integers(0, 255, (20, 24, 3), dtype=np.uint8))
    assert load_training_images(tmp_path, spatial_dims=2, image_size=64, channels=3).shape == (1, 3, 64, 64)
    with pytest.raises(BadInputError, match=r"c\.png is an RGB image .*channels=3"):
        load_training_images(tmp_path, spatial_dims=2, image_size=64)


def test_nifti_volume_2d_keeps_slices_with_a_quarter_of_the_largest_area(tmp_path):
    volume = _brain_like()  # axial areas 4, 16, 36, 64, 64, 36, 16, 4
    _nifti(tmp_path / "v.nii.gz", volume)
    images = load_training_images(tmp_path, spatial_dims=2, image_size=64)
    assert images.shape == (6, 1, 64, 64)  # the slices with area 16 or more: 16 >= 0.25 * 64


def test_nifti_volume_3d(tmp_path):
    _nifti(tmp_path / "v.nii", _brain_like())
    images = load_training_images(tmp_path, spatial_dims=3, image_size=16, allowed_sizes=None)
    assert images.shape == (1, 1, 16, 16, 16)
    assert float(images.min()) == pytest.approx(-1) and float(images.max()) <= 1


def test_volumes_are_reoriented_to_ras(tmp_path):
    volume = _brain_like()
    _nifti(tmp_path / "ras.nii.gz", volume)
    _nifti(tmp_path / "lps.nii.gz", volume[::-1, ::-1].copy(), np.diag([-1.0, -1.0, 1.0, 1.0]))
    lps, ras = read_images(tmp_path, spatial_dims=3)
    np.testing.assert_allclose(lps.as_tensor(), ras.as_tensor(), atol=1e-6)


def test_single_slice_volume_is_a_2d_image(tmp_path):
    _nifti(tmp_path / "flat.nii.gz", _brain_like()[..., 3:4])
    (image,) = read_images(tmp_path, spatial_dims=2)
    assert image.shape == (1, 12, 10)


def test_npy_2d_is_an_image_and_3d_is_a_volume(tmp_path):
    np.save(tmp_path / "image.npy", _gray(16, 12).astype(np.float32))
    np.save(tmp_path / "volume.npy", _brain_like())
    image, *slices = read_images(tmp_path, spatial_dims=2)
    assert image.shape == (1, 16, 12)
    assert [tuple(s.shape) for s in slices] == [(1, 10, 12)] * 6  # axial pictures: rows = anterior to posterior
    (volume,) = read_images(tmp_path / "volume.npy", spatial_dims=3)
    assert volume.shape == (1, 12, 10, 8)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".mhd"])
def test_itk_formats(tmp_path, suffix):
    volume = _brain_like()
    sitk.WriteImage(sitk.GetImageFromArray(volume.transpose(2, 1, 0)), str(tmp_path / f"v{suffix}"))
    (image,) = read_images(tmp_path, spatial_dims=3)
    assert image.shape == (1, 12, 10, 8)
    expected = torch.from_numpy(volume[::-1, ::-1].copy())  # ITK's LPS axes flipped to RAS
    assert torch.equal(image[0] == -1, expected <= float(np.percentile(volume, 0.5)))


def test_dicom_folder_is_one_series(tmp_path):
    volume = (_brain_like() * 10).astype(np.int16)
    _dicom_series(tmp_path / "patient" / "series", volume)
    (image,) = read_images(tmp_path, spatial_dims=3)
    assert image.shape == (1, 12, 10, 8)
    np.testing.assert_allclose(image.pixdim[:3], (1.0, 1.0, 2.0))
    assert len(load_training_images(tmp_path, spatial_dims=2, image_size=64)) == 6


def test_order_is_sorted_and_repeatable(tmp_path):
    for name, width in [("b.png", 10), ("a.png", 20), ("sub/c.png", 30), (".hidden.png", 40)]:
        _png(tmp_path / name, _gray(8, width))
    widths = [image.shape[-1] for image in read_images(tmp_path, spatial_dims=2)]
    assert widths == [20, 10, 30]
    assert [p.name for p in find_image_paths(tmp_path)] == ["a.png", "b.png", "c.png"]
    first = load_training_images(tmp_path, spatial_dims=2, image_size=64)
    assert torch.equal(first, load_training_images(tmp_path, spatial_dims=2, image_size=64))


def test_a_single_file_is_a_dataset(tmp_path):
    path = _png(tmp_path / "one.png", _gray(10, 10))
    assert load_training_images(str(path), spatial_dims=2, image_size=64).shape == (1, 1, 64, 64)


# --- bad input ----------------------------------------------------------------------------------------------------


def _raises(match: str, *args, **kwargs) -> str:
    with pytest.raises(BadInputError, match=match) as error:
        load_training_images(*args, **kwargs)
    message = str(error.value)
    assert message.endswith(".") and "\n" not in message
    return message


def test_missing_folder(tmp_path):
    _raises(r"nowhere is not a folder", tmp_path / "nowhere", 2, 64)


def test_folder_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    _raises(r"holds no images \(PNG", tmp_path, 2, 64)


def test_corrupt_file(tmp_path):
    _png(tmp_path / "a.png", _gray(8, 8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    _raises(r"b\.png could not be read", tmp_path, 2, 64)


def test_corrupt_nifti(tmp_path):
    (tmp_path / "v.nii.gz").write_bytes(b"not a nifti")
    _raises(r"v\.nii\.gz could not be read", tmp_path, 3, 64)


def test_mixed_channel_counts(tmp_path):
    _png(tmp_path / "a.png", _gray(8, 8))
    _png(tmp_path / "b.png", RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    _raises(r"b\.png has 3 channel\(s\) but .*a\.png has 1", tmp_path, 2, 64)


def test_channels_differ_from_the_model(tmp_path):
    _png(tmp_path / "a.png", _gray(8, 8))
    _raises(r"a\.png has 1 channel\(s\) but the model has channels=3; set channels=1", tmp_path, 2, 64, channels=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(tmp_path, bad):
    volume = _brain_like()
    volume[2, 2, 2] = bad
    np.save(tmp_path / "v.npy", volume)
    _raises(r"v\.npy holds NaN or infinite values", tmp_path, 3, 64)


def test_3d_model_given_2d_images(tmp_path):
    _png(tmp_path / "a.png", RNG.integers(0, 255, (8, 8, 3), dtype=np.uint8))  # the dimension is checked first
    _raises(r"a\.png is a 2D image but the model is 3D", tmp_path, 3, 64)


def test_4d_array(tmp_path):
    np.save(tmp_path / "v.npy", RNG.random((2, 3, 4, 5)).astype(np.float32))
    _raises(r"v\.npy has 4 spatial dimensions", tmp_path, 3, 64)


def test_blank_image(tmp_path):
    _png(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    _raises(r"a\.png is blank", tmp_path, 2, 64)


def test_volume_without_foreground_slices(tmp_path):
    volume = np.ones((6, 6, 6), np.float32)
    volume[0, 0, 0] = 0
    np.save(tmp_path / "v.npy", volume)
    _raises(r"v\.npy has no axial slice", tmp_path, 2, 64)


def test_several_dicom_series_in_one_folder(tmp_path):
    volume = (_brain_like() * 10).astype(np.int16)
    _dicom_series(tmp_path / "mixed", volume, series_uids={k: "1.2.826.0.1.3680043.2.1125.2" for k in range(4)})
    _raises(r"mixed holds 2 DICOM series; put each series in a folder of its own", tmp_path, 3, 64)


def test_image_size_not_allowed(tmp_path):
    message = _raises(r"image_size 100 is not supported", tmp_path / "nowhere", 2, 100)
    assert "64, 128, 256" in message  # checked before the folder


def test_spatial_dims_not_supported():
    _raises(r"spatial_dims 4 is not supported; use 2 or 3", None, 4, 64)


def test_validate_image_size():
    validate_image_size(128)
    validate_image_size(100, allowed_sizes=None)
    for size, allowed in [(0, None), (64.0, None), (True, None), (32, (64, 128))]:
        with pytest.raises(BadInputError, match="image_size"):
            validate_image_size(size, allowed)


def test_sample_data_has_one_channel():
    _raises(r"the sample volume has 1 channel\(s\) but the model has channels=3", None, 2, 64, channels=3)


def test_every_unreadable_file_of_a_folder_is_named(tmp_path):
    _png(tmp_path / "a.png", _gray(16, 16))
    for name in ("b.png", "c.png", "d.png"):
        (tmp_path / name).write_bytes(b"not a png")
    _raises(r"3 of 4 images could not be read: \S+/b\.png, \S+/c\.png, \S+/d\.png \(the first: cannot identify "
            r"image file .*\); replace or remove them\.", tmp_path, 2, 64)  # fmt: skip


def test_images_that_would_be_magnified_more_than_eightfold_are_refused(tmp_path):
    _png(tmp_path / "big.png", _gray(40, 48))
    _png(tmp_path / "tiny.png", RNG.integers(0, 255, (1, 2), dtype=np.uint8))
    _raises(r"1 of the 2 images of .* \(the smallest 1x2 px\) would be magnified more than 8x to 64x64; remove them "
            r"or lower --image_size\.", tmp_path, 2, 64)  # fmt: skip
    _png(tmp_path / "tiny.png", _gray(8, 8))  # 8x: the limit itself passes
    assert load_training_images(tmp_path, 2, 64).shape == (2, 1, 64, 64)


def test_a_4d_nifti_is_called_so_not_rgb(tmp_path):
    _nifti(tmp_path / "series.nii.gz", RNG.random((12, 10, 8, 3)).astype(np.float32))
    _raises(r"series\.nii\.gz is a 4D image \(3 volumes of 12x10x8\); give one 3D volume per file", tmp_path, 2, 64)
