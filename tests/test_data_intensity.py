"""Foreground-aware normalisation into [-1, 1] and its inverse."""

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medgan.data import denormalize, foreground_mask, foreground_slice_indices, normalize, robust_range


def _mri_like(seed: int = 0) -> torch.Tensor:
    """(1, 24, 20, 16): 80 % zero background, a bright block of tissue with a few hot voxels."""
    rng = np.random.default_rng(seed)
    image = np.zeros((1, 24, 20, 16), np.float32)
    image[:, 6:18, 5:15, 4:12] = rng.normal(500, 80, (12, 10, 8))
    image[0, 10, 10, 8] = 5000
    return torch.from_numpy(image)


def test_foreground_is_the_tissue_not_the_zero_background():
    image = _mri_like()
    assert torch.equal(foreground_mask(image), image > 0)


def test_range_is_low_percentile_of_all_and_high_percentile_of_foreground():
    image = _mri_like()
    values = image.numpy()
    expected = (np.percentile(values, 0.5), np.percentile(values[values > 0], 99.5))
    np.testing.assert_allclose(robust_range(image), expected, rtol=1e-5, atol=1e-6)
    assert robust_range(image)[1] > np.percentile(values, 99.5)  # bright tissue not clipped by the background


def test_normalize_matches_numpy_and_inverts_exactly_inside_the_range():
    image = _mri_like()
    scaled, (low, high) = normalize(image)
    values = image.numpy()
    expected = np.clip((values - low) / (high - low), 0, 1) * 2 - 1
    np.testing.assert_allclose(scaled.numpy(), expected, atol=1e-6)
    assert float(scaled.min()) == -1 and float(scaled.max()) == 1
    inside = (image >= low) & (image <= high)
    np.testing.assert_allclose(denormalize(scaled, low, high)[inside], image[inside], rtol=1e-5)


def test_normalize_keeps_type_and_metadata():
    plain, _ = normalize(torch.arange(10.0))
    meta, _ = normalize(MetaTensor(torch.arange(10.0).reshape(1, 10), affine=torch.diag(torch.tensor([2.0, 2, 2, 1]))))
    assert type(plain) is torch.Tensor and plain.dtype == torch.float32
    assert isinstance(meta, MetaTensor) and float(meta.affine[0, 0]) == 2


def test_normalize_accepts_integer_images():
    scaled, _ = normalize(torch.arange(100, dtype=torch.int16).reshape(1, 10, 10))
    assert scaled.dtype == torch.float32 and float(scaled.min()) == -1 and float(scaled.max()) == 1


def test_binary_image_falls_back_to_min_max():
    image = torch.zeros(1, 10, 10)
    image[:, 3:6, 3:6] = 1
    assert robust_range(image) == (0.0, 1.0)
    scaled, _ = normalize(image)
    assert set(scaled.unique().tolist()) == {-1.0, 1.0}


def test_image_that_is_almost_all_maximum_falls_back_to_the_maximum():
    image = torch.ones(1, 100)
    image[0, 0] = 0
    assert not foreground_mask(image).any()
    low, high = robust_range(image)
    assert high == 1.0 and low == pytest.approx(np.percentile(image.numpy(), 0.5))


def test_constant_image_is_refused():
    with pytest.raises(ValueError, match="constant"):
        normalize(torch.full((1, 4, 4), 7.0))


def test_denormalize_maps_the_ends():
    x = torch.tensor([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(denormalize(x, 10.0, 30.0), [10.0, 20.0, 30.0])


def test_foreground_slice_indices_by_area_fraction():
    volume = torch.zeros(1, 10, 10, 5)
    for index, side in enumerate([0, 2, 4, 8, 10]):  # areas 0, 4, 16, 64, 100
        volume[0, :side, :side, index] = 1
    assert foreground_slice_indices(volume, 0.25).tolist() == [3, 4]
    assert foreground_slice_indices(volume, 0.0).tolist() == [1, 2, 3, 4]
    assert foreground_slice_indices(torch.zeros(1, 4, 4, 3)).numel() == 0
