"""Each metric of ``medgan.metrics`` against a known answer: identical sets, shifted and perturbed sets, piq and
MONAI called directly."""

from __future__ import annotations

import math

import numpy as np
import piq
import pytest
import torch
from monai.metrics import FIDMetric
from torch import nn

from medgan.data.pyramid import consingan_stage_shapes, image_pyramid
from medgan.errors import BadInputError
from medgan.inference import consingan_sampler
from medgan.metrics import (
    PIQ_MEASURES,
    extract_features,
    feature_distribution_metrics,
    generate_samples,
    intensity_histogram_distance,
    laplacian_pyramid,
    linear_mmd,
    load_feature_extractor,
    mean_pairwise_similarity,
    singan_diversity,
    single_image_fid,
    sliced_wasserstein_distance,
    stage_patch_swd,
    stage_reconstruction_errors,
    unpaired_image_quality,
)
from medgan.metrics.checks import check_comparable, sample_pairs
from medgan.metrics.swd import extract_patches, pyramid_up
from medgan.networks import ConSinGANGenerator


def blobs(count: int, shape: tuple[int, ...], seed: int = 0, frequency: float = 3.0, axis: int = 0) -> torch.Tensor:
    """``count`` images (count, 1, *shape) in [-1, 1]: stripes along ``axis`` with a random phase, plus a little
    noise; their patch statistics depend on the stripe direction and frequency."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.meshgrid(*[torch.linspace(0, 1, size) for size in shape], indexing="ij")
    phases = torch.rand(count, generator=generator) * 2 * math.pi
    images = torch.stack([torch.sin(2 * math.pi * frequency * grid[axis] + phase) for phase in phases])
    noise = 0.05 * torch.randn(images.shape, generator=generator)
    return (0.8 * images + noise).clamp(-1, 1)[:, None]


def perturbed(images: torch.Tensor, amount: float = 0.02, seed: int = 1) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + amount * noise).clamp(-1, 1)


# ---------------------------------------------------------------------------------------------------------------
# sliced Wasserstein distance


@pytest.mark.parametrize("shape", [(64, 64), (32, 24, 40)])
def test_laplacian_pyramid_sums_back_to_the_image(shape):
    images = torch.rand(2, 1, *shape)
    levels = laplacian_pyramid(images, 3)
    assert [tuple(level.shape[2:]) for level in levels][0] == shape and len(levels) == 3
    rebuilt = levels[-1]
    for level in reversed(levels[:-1]):
        rebuilt = level + pyramid_up(rebuilt, level.shape[2:])
    torch.testing.assert_close(rebuilt, images, atol=1e-5, rtol=0)


def test_patches_are_the_voxels_at_their_corners():
    images = torch.arange(2 * 3 * 10 * 12 * 9, dtype=torch.float).view(2, 3, 10, 12, 9)
    corners = torch.tensor([[0, 5, 2], [3, 0, 2], [3, 5, 2]])
    patches = extract_patches(images, corners, 7)
    assert patches.shape == (3, 3, 7, 7, 7)
    for index, (x, y, z) in enumerate(corners.tolist()):
        torch.testing.assert_close(patches[index], images[index % 2, :, x : x + 7, y : y + 7, z : z + 7])


@pytest.mark.parametrize("shape", [(64, 64), (32, 32, 32)])
def test_swd_is_zero_for_identical_sets_and_grows_with_the_shift(shape):
    real = blobs(6, shape)
    identical = sliced_wasserstein_distance(real, real.clone(), patches_per_image=32, num_projections=128)
    assert identical.value == 0.0
    slight = sliced_wasserstein_distance(real, perturbed(real), patches_per_image=32, num_projections=128)
    rotated = blobs(6, shape, seed=3, frequency=6.0, axis=1)  # other stripes: another patch distribution
    shifted = sliced_wasserstein_distance(real, rotated, patches_per_image=32, num_projections=128)
    assert 0 < slight.value < shifted.value
    assert list(shifted.details["per_level"]) == [
        "x".join(map(str, [s // 2**k for s in shape])) for k in range(2 + (len(shape) == 2))
    ]
    assert shifted.samples == {"real": 6, "generated": 6, "patches_per_set_and_level": 6 * 32}
    assert shifted.settings["patch_size"] == 7 and shifted.higher_is_better is False


def test_swd_compares_sets_of_different_sizes_and_refuses_tiny_images():
    result = sliced_wasserstein_distance(blobs(5, (32, 32)), blobs(2, (32, 32), seed=4), patches_per_image=16)
    assert result.samples["patches_per_set_and_level"] == 5 * 16 and math.isfinite(result.value)
    with pytest.raises(BadInputError, match="smaller than the 7-voxel patches"):
        sliced_wasserstein_distance(torch.rand(2, 1, 6, 20), torch.rand(2, 1, 6, 20))


# ---------------------------------------------------------------------------------------------------------------
# intensity distances


@pytest.mark.parametrize("shape", [(32, 32), (16, 16, 16)])
def test_histogram_distance_is_zero_for_identical_sets_and_the_shift_for_a_shifted_one(shape):
    real = blobs(4, shape)
    assert intensity_histogram_distance(real, real.clone()).value == 0.0
    shifted = intensity_histogram_distance(real, real + 0.1)  # the foreground rule is shift-invariant
    assert shifted.value == pytest.approx(0.1, abs=1e-5)
    assert intensity_histogram_distance(real, perturbed(real)).value < shifted.value
    assert shifted.samples["real"] == 4 and shifted.samples["real_values"] > 0


def test_mmd_of_constant_sets_is_the_squared_distance_of_their_images():
    a, b = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    assert linear_mmd(a.repeat(3, 1, 1, 1), a.repeat(3, 1, 1, 1)).value == pytest.approx(0.0, abs=1e-12)
    expected = float(((a.double() - b.double()) ** 2).mean())
    assert linear_mmd(a.repeat(3, 1, 1, 1), b.repeat(4, 1, 1, 1)).value == pytest.approx(expected, rel=1e-9)


def test_mmd_of_a_shifted_set_adds_the_squared_shift():
    real = blobs(5, (16, 16))
    identical = linear_mmd(real, real.clone()).value  # MONAI's unbiased estimate: not 0 for varied sets
    assert linear_mmd(real, real + 0.3).value - identical == pytest.approx(0.09, rel=1e-6)
    assert linear_mmd(real, perturbed(real)).value < linear_mmd(real, real + 0.3).value
    with pytest.raises(BadInputError, match="too few for the MMD"):
        linear_mmd(real[:1], real)


# ---------------------------------------------------------------------------------------------------------------
# features: FID, KID, precision/recall, SIFID


@pytest.fixture(scope="module")
def extractor_file(tmp_path_factory):
    """A small randomly initialised TorchScript feature network: (B, 1, H, W) -> (B, 8, H', W')."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3))
    path = tmp_path_factory.mktemp("extractor") / "features.pt"
    torch.jit.save(torch.jit.script(network), str(path))
    return path


def test_feature_metrics_reuse_monai_and_piq(extractor_file):
    extractor = load_feature_extractor(extractor_file)
    real = blobs(12, (32, 32))
    real_features = extract_features(extractor, real)
    assert real_features.shape == (12, 8)
    same = {
        r.name: r
        for r in feature_distribution_metrics(real_features, real_features.clone(), {"feature_extractor": "x"})
    }
    assert same["fid"].value == pytest.approx(0.0, abs=1e-6)
    assert same["precision"].value == 1.0 and same["recall"].value == 1.0
    slight = extract_features(extractor, perturbed(real))
    far = extract_features(extractor, blobs(12, (32, 32), seed=5, frequency=7.0, axis=1))
    results = {r.name: r for r in feature_distribution_metrics(real_features, far, {"feature_extractor": "x"})}
    expected_fid = float(FIDMetric()(far, real_features))
    assert results["fid"].value == pytest.approx(expected_fid)
    precision, recall = piq.PR(nearest_k=5)(real_features.float(), far.float())
    assert (results["precision"].value, results["recall"].value) == (float(precision), float(recall))
    slight_fid = feature_distribution_metrics(real_features, slight, {})[0].value
    assert slight_fid < results["fid"].value
    assert results["kid"].settings["subset_size"] == 12 and results["fid"].settings["feature_extractor"] == "x"


def test_feature_metrics_refuse_too_few_images_and_bad_files(extractor_file, tmp_path):
    features = torch.rand(4, 8, dtype=torch.float64)
    with pytest.raises(BadInputError, match="the real set has 4 image"):
        feature_distribution_metrics(features, torch.rand(10, 8, dtype=torch.float64), {})
    with pytest.raises(BadInputError, match="does not exist"):
        load_feature_extractor(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a network")
    with pytest.raises(BadInputError, match="not a TorchScript file"):
        load_feature_extractor(tmp_path / "junk.pt")


def test_single_image_fid_is_zero_for_copies_of_the_image(extractor_file):
    extractor = load_feature_extractor(extractor_file)
    real = blobs(1, (32, 32))
    copies = single_image_fid(extractor, real, real.repeat(3, 1, 1, 1), {})
    assert copies.value == pytest.approx(0.0, abs=1e-6) and copies.samples["positions"] == 13 * 13
    other = single_image_fid(extractor, real, blobs(3, (32, 32), seed=2, axis=1), {})
    assert other.value > 0.01


# ---------------------------------------------------------------------------------------------------------------
# diversity


@pytest.mark.parametrize("shape, measure", [((64, 64), "ssim"), ((20, 24, 16), "ssim"), ((176, 180), "ms_ssim")])
def test_identical_samples_have_the_maximum_similarity(shape, measure):
    image = blobs(1, shape)
    identical = mean_pairwise_similarity(image.repeat(3, *[1] * (len(shape) + 1)), "generated")
    assert identical.name == f"diversity_{measure}_generated" and identical.value == pytest.approx(1.0, abs=1e-5)
    varied = mean_pairwise_similarity(blobs(3, shape, seed=1, frequency=5.0), "generated")
    assert varied.value < 0.95 and varied.samples == {"images": 3, "pairs": 3}


def test_pairwise_similarity_caps_the_pairs_and_needs_two_images():
    result = mean_pairwise_similarity(blobs(10, (16, 16)), "real", max_pairs=7)
    assert result.samples["pairs"] == 7 and result.settings["kernel_size"] == 11
    with pytest.raises(BadInputError, match="the real set has 1 image"):
        mean_pairwise_similarity(blobs(1, (16, 16)), "real")


def test_singan_diversity_known_answers():
    real = blobs(1, (24, 20))
    assert singan_diversity(real.repeat(4, 1, 1, 1), real).value == 0.0
    samples = torch.cat([real - 0.1, real + 0.1])
    expected = np.std(samples.numpy(), axis=0, ddof=1).mean() / real.numpy().std(ddof=1)
    assert singan_diversity(samples, real).value == pytest.approx(float(expected), rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# ConSinGAN stages


@pytest.fixture(scope="module")
def consingan():
    torch.manual_seed(0)
    shapes = consingan_stage_shapes((24, 20), 3, 24, 8)
    generator = ConSinGANGenerator(2, shapes, num_features=4, num_layers=2, num_stages=3).eval()
    return generator, image_pyramid(blobs(1, (24, 20)), shapes)


def test_reconstruction_error_per_stage_uses_the_reconstruction_path(consingan):
    generator, reals = consingan
    with torch.no_grad():
        reconstruction = generator.reconstruct()
    result = stage_reconstruction_errors(generator, [*reals[:-1], reconstruction])
    assert len(result.details["per_stage"]) == 3 and result.value == pytest.approx(0.0, abs=1e-10)
    assert all(error > 0 for error in result.details["per_stage"][:-1])
    assert generator.num_stages == 3  # the truncated copies leave the generator alone


def test_consingan_samples_depend_on_the_seed_only(consingan):
    generator, _ = consingan
    shapes = generator.stage_shapes.tolist()

    def sample(seed: int) -> torch.Tensor:
        return generate_samples(generator, [1, *shapes[0]], 2, seed, 1, consingan_sampler(shapes))

    torch.manual_seed(123)
    first = sample(0)
    torch.manual_seed(456)
    assert torch.equal(first, sample(0)) and not torch.equal(first, sample(1))


def test_stage_patch_swd_has_one_value_per_stage(consingan):
    generator, reals = consingan
    result = stage_patch_swd(generator, reals, num_samples=2)
    assert len(result.details["per_stage"]) == 3 and all(v > 0 for v in result.details["per_stage"])
    assert result.value == result.details["per_stage"][-1] and result.settings["patch_sizes"] == [7, 7, 7]


# ---------------------------------------------------------------------------------------------------------------
# the MedImageGAN table


@pytest.mark.filterwarnings("ignore:The original MDSI supports only RGB images")
def test_unpaired_piq_measures_agree_with_piq():
    real, generated = blobs(3, (48, 40)), blobs(2, (48, 40), seed=7, frequency=4.0)
    results, skipped = unpaired_image_quality(real, generated)
    assert not skipped and [r.name for r in results] == [f"unpaired_{name}" for name in PIQ_MEASURES]
    unit_real, unit_generated = (real + 1) / 2, (generated + 1) / 2
    for result, measure in zip(results, PIQ_MEASURES.values()):
        expected = np.mean(
            [
                float(measure.function(unit_generated[[i]], unit_real[[j]], data_range=1.0))
                for i in range(2)
                for j in range(3)
            ]
        )
        assert result.value == pytest.approx(expected, rel=1e-5), result.name
        assert result.samples["pairs"] == 6 and "unpaired" in result.note
    assert {r.name: r.higher_is_better for r in results}["unpaired_mdsi"] is False


def test_unpaired_piq_measures_sample_pairs_skip_small_images_and_refuse_3d():
    results, _ = unpaired_image_quality(blobs(5, (32, 32)), blobs(4, (32, 32), seed=1), max_pairs=5)
    assert all(r.samples["pairs"] == 5 for r in results)
    _, skipped = unpaired_image_quality(blobs(2, (12, 14)), blobs(2, (12, 14), seed=1))
    assert set(skipped) == {"unpaired_ms_gmsd", "unpaired_haarpsi"}
    with pytest.raises(BadInputError, match="2D only"):
        unpaired_image_quality(torch.rand(2, 1, 8, 8, 8), torch.rand(2, 1, 8, 8, 8))


# ---------------------------------------------------------------------------------------------------------------
# checks


def test_sets_of_another_dimensionality_or_channel_count_are_refused_in_one_sentence():
    with pytest.raises(BadInputError, match="the real images are 3D but the model generates 2D images"):
        check_comparable(torch.rand(2, 1, 8, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(BadInputError, match="3 channel"):
        check_comparable(torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(BadInputError, match="the real set is empty"):
        check_comparable(torch.rand(0, 1, 8, 8), torch.rand(2, 1, 8, 8))


def test_sample_pairs_all_or_a_seeded_subset():
    first, second = sample_pairs(3, 4, 100, 0)
    assert len(first) == 12 and len(set(zip(first.tolist(), second.tolist()))) == 12
    first, second = sample_pairs(5, 5, 100, 0, distinct=True)
    assert len(first) == 10 and bool((first < second).all())
    assert torch.equal(sample_pairs(30, 30, 9, 1)[0], sample_pairs(30, 30, 9, 1)[0])
