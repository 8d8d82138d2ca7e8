"""medgan.augment: the n-D warps against torch's own flips, shifts and rotations; ADA and DiffAugment in 2D and 3D
(identity at p = 0, applied at p = 1, one transform per image shared by its channels, differentiable by
gradcheck); ADA's tuning of p against a hand computation, and its state through a state dict; label smoothing's
loss against the binary cross-entropy written out."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from medgan.augment import AdaptiveAugmentation, DiffAugment, NoAugmentation, build_augmentation, geometry
from medgan.augment.ada import ADA_OPS
from medgan.augment.base import flip_axes
from medgan.losses import AdversarialLoss


def images(spatial_dims: int, batch: int = 4, channels: int = 1, size: int = 12) -> torch.Tensor:
    return torch.rand((batch, channels, *[size] * spatial_dims), generator=torch.Generator().manual_seed(0)) * 2 - 1


# ------------------------------------------------------------------------------------------------------ geometry
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_a_mirror_matrix_is_torch_flip_along_that_axis(spatial_dims):
    x = torch.rand(2, 1, *range(5, 5 + spatial_dims))  # unequal sides: the axes cannot be confused
    for axis in range(spatial_dims):
        factors = torch.ones(2, spatial_dims)
        factors[:, geometry.grid_axis(axis, spatial_dims)] = -1
        torch.testing.assert_close(geometry.warp(x, geometry.scaling(factors)), x.flip(2 + axis))


def test_a_whole_pixel_translation_shifts_and_pads():
    x = torch.rand(1, 1, 6, 8)
    shift = torch.tensor([[0.0, 2.0]])  # affine_grid order (width, height): 2 rows
    moved = geometry.warp(x, geometry.translation(shift), padding_mode="zeros")
    torch.testing.assert_close(moved[:, :, :-2], x[:, :, 2:])  # output row i samples input row i + 2
    assert moved[:, :, -2:].abs().max() < 1e-6


def test_a_quarter_turn_is_rot90():
    x = torch.rand(1, 1, 8, 8)
    turned = geometry.warp(x, geometry.rotation(torch.tensor([math.pi / 2]), 2))
    torch.testing.assert_close(turned, x.rot90(1, (2, 3)))


def test_identity_matrices_leave_their_images_bit_for_bit():
    x = images(2)
    matrices = geometry.identity(4, 2)
    matrices[1] = geometry.rotation(torch.tensor([0.3]), 2)[0]
    out = geometry.warp(x, matrices)
    assert torch.equal(out[[0, 2, 3]], x[[0, 2, 3]]) and not torch.equal(out[1], x[1])


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_resample_is_warp_bit_for_bit_where_pixels_map_onto_pixels(spatial_dims):
    x = torch.rand(5, 1, *range(6, 6 + spatial_dims))  # an even and an odd side
    n = spatial_dims
    flip = geometry.scaling(torch.tensor([[-1.0] + [1.0] * (n - 1)]))
    shift = geometry.translation(torch.tensor([[2.0, -1.0] + [3.0] * (n - 2)]))
    turn = geometry.rotation(torch.tensor([math.pi]), n)  # a half turn keeps every axis's parity
    fraction = geometry.translation(torch.tensor([[0.5] + [0.0] * (n - 1)]))
    tilt = geometry.rotation(torch.tensor([0.3]), n)
    matrices = torch.cat([flip, shift, turn @ flip, fraction, tilt])
    assert geometry.maps_pixels_to_pixels(matrices, x.shape[2:][::-1]).tolist() == [True] * 3 + [False] * 2
    assert torch.equal(geometry.resample(x[:3], matrices[:3]), geometry.warp(x[:3], matrices[:3]))
    mixed = geometry.resample(x, matrices)
    assert torch.equal(mixed[:3], geometry.warp(x[:3], matrices[:3]))
    quarter = geometry.rotation(torch.tensor([math.pi / 2]), 2)  # swaps an even and an odd axis: half a pixel off
    assert geometry.maps_pixels_to_pixels(quarter, (6, 7)).tolist() == [False]
    assert geometry.maps_pixels_to_pixels(quarter, (6, 8)).tolist() == [True]


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_resample_shifts_a_fine_cosine_by_half_a_pixel_without_blurring_it(spatial_dims):
    """cos(2 pi f x) at f = 0.3 cycles per pixel, moved half a pixel: bilinear interpolation averages neighbours and
    scales it by cos(pi f) = cos(0.3 pi) = 0.59; at twice the resolution it arrives whole (the formula)."""
    size, frequency = 32, 0.3
    position = torch.arange(size, dtype=torch.float64)
    shape = [1, 1] + [1] * (spatial_dims - 1) + [size]
    wave = torch.cos(2 * math.pi * frequency * position).view(shape).expand(1, 1, *[size] * spatial_dims)
    shift = geometry.translation(torch.tensor([[0.5] + [0.0] * (spatial_dims - 1)], dtype=torch.float64))
    expected = torch.cos(2 * math.pi * frequency * (position + 0.5)).view(shape)  # output x samples input x + 0.5
    interior = (Ellipsis, slice(8, -8))
    bilinear = geometry.warp(wave, shift)[interior]
    torch.testing.assert_close(bilinear, math.cos(math.pi * frequency) * expected.expand_as(wave)[interior])
    sharp = geometry.resample(wave, shift)[interior]
    assert (sharp - expected.expand_as(wave)[interior]).abs().max() < 0.03


@pytest.mark.parametrize("shape", [(9, 12), (4, 4), (5, 6, 7)])  # 4x4: PGGAN's first stage, too small to reflect
def test_resample_keeps_a_constant_image_constant_to_its_edges(shape):
    x = torch.full((2, 1, *shape), -0.75)
    out = geometry.resample(x, geometry.rotation(torch.tensor([0.4, -1.1]), len(shape)))
    torch.testing.assert_close(out, x)


def test_anatomical_flip_names_give_the_loaders_axes():
    assert flip_axes(["left-right"], 2) == (1,) and flip_axes(["left-right", "inferior-superior"], 3) == (0, 2)
    with pytest.raises(ValueError, match="inferior-superior"):
        flip_axes(["inferior-superior"], 2)


# ----------------------------------------------------------------------------------------- ADA and DiffAugment
def ada(spatial_dims: int, p: float, ops=ADA_OPS, **kwargs) -> AdaptiveAugmentation:
    flips = ["left-right", "anterior-posterior"]
    return AdaptiveAugmentation(spatial_dims, p=p, flips=flips, ops=ops, **kwargs)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_ada_is_the_identity_at_p_0_and_changes_every_image_at_p_1(spatial_dims):
    x = images(spatial_dims)
    assert torch.equal(ada(spatial_dims, 0.0)(x), x)
    torch.manual_seed(0)
    out = ada(spatial_dims, 1.0)(x)
    assert out.shape == x.shape
    assert all(not torch.allclose(out[i], x[i]) for i in range(len(x)))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_an_image_that_draws_no_transform_passes_bit_for_bit_with_an_identity_gradient(spatial_dims):
    class NothingDrawn(AdaptiveAugmentation):  # p > 0, so the whole augmented path runs, but no image is chosen
        def _chosen(self, batch_size, probability, device):
            return torch.zeros(batch_size, dtype=torch.bool, device=device)

    x = images(spatial_dims).requires_grad_(True)
    out = NothingDrawn(spatial_dims, p=0.5, flips=["left-right"], ops=ADA_OPS)(x)
    weights = torch.randn_like(x)
    (out * weights).sum().backward()
    assert torch.equal(out, x) and torch.equal(x.grad, weights)


@pytest.mark.parametrize("op", ADA_OPS)
def test_each_ada_transform_alone_changes_images_at_p_1(op):
    x = images(2, batch=8, size=32)  # shifts of up to 4 pixels: rarely 0 along both axes
    torch.manual_seed(1)
    out = ada(2, 1.0, ops=[op])(x)
    changed = [not torch.allclose(out[i], x[i]) for i in range(len(x))]
    assert sum(changed) >= (4 if op == "flip" else 7), (op, changed)  # a flip mirrors with probability 1/2


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("kind", ["ada", "diffaugment"])
def test_one_transform_per_image_shared_by_its_channels(spatial_dims, kind):
    one = images(spatial_dims, channels=1)
    x = one.expand(-1, 3, *one.shape[2:]).contiguous()  # three identical channels
    torch.manual_seed(2)
    augment = ada(spatial_dims, 1.0) if kind == "ada" else DiffAugment(["translation", "cutout"])
    out = augment(x)
    torch.testing.assert_close(out[:, 1:], out[:, :1].expand_as(out[:, 1:]))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("kind", ["ada", "diffaugment"])
def test_augmentation_is_differentiable(spatial_dims, kind):
    x = images(spatial_dims, batch=2, size=5 if spatial_dims == 2 else 3).double().requires_grad_(True)
    augment = ada(spatial_dims, 1.0, ops=[op for op in ADA_OPS if op != "cutout"]) if kind == "ada" else DiffAugment()

    def seeded(t: torch.Tensor) -> torch.Tensor:  # the same random transform on every call
        torch.manual_seed(3)
        return augment(t)

    assert torch.autograd.gradcheck(seeded, (x,), eps=1e-6, atol=1e-4)


def test_diffaugment_translation_is_a_whole_pixel_shift_with_zeros():
    x = images(2, batch=6, size=16) + 3.0  # no zeros of its own
    torch.manual_seed(4)
    out = DiffAugment(["translation"])(x)
    for i in range(len(x)):
        kept = out[i][out[i].abs() > 1e-5]
        assert kept.numel() >= 14 * 14  # at most 2 (= 16 / 8) rows and columns padded
        found = any(
            torch.allclose(out[i, :, max(dy, 0) : 16 + min(dy, 0), max(dx, 0) : 16 + min(dx, 0)],
                           x[i, :, max(-dy, 0) : 16 + min(-dy, 0), max(-dx, 0) : 16 + min(-dx, 0)], atol=1e-5)
            for dy in range(-2, 3) for dx in range(-2, 3)
        )  # fmt: skip
        assert found, i


def test_build_augmentation_makes_the_named_kind():
    assert isinstance(build_augmentation("none", 2), NoAugmentation)
    assert isinstance(build_augmentation("ada", 3, flips=["inferior-superior"]), AdaptiveAugmentation)
    assert isinstance(build_augmentation("diffaugment", 2), DiffAugment)
    with pytest.raises(ValueError, match="adaptive"):
        build_augmentation("adaptive", 2)


# ------------------------------------------------------------------------------------------------------ tuning
def test_p_rises_on_an_overfitting_signal_by_the_reference_step():
    tuner = AdaptiveAugmentation(2, p=0.0, target=0.6, interval=2, kimg=1.0)  # each step: 8 * 2 / 1000
    for _ in range(6):
        tuner.observe(torch.tensor([2.0, 1.0, 3.0, -1.0]))  # r_t = 0.5 ... overfitting needs > 0.6:
        tuner.observe(torch.tensor([1.0, 1.0, 1.0, 1.0]))  # two batches: r_t = (2 + 4) / 8 = 0.75
        tuner.step(8)
    assert float(tuner.p) == pytest.approx(3 * 8 * 2 / 1000)  # adjusted at iterations 2, 4 and 6


def test_p_falls_on_a_healthy_signal_and_stays_in_0_1():
    tuner = AdaptiveAugmentation(2, p=0.02, target=0.6, interval=1, kimg=1.0)
    for _ in range(5):
        tuner.observe(torch.tensor([1.0, -1.0, -1.0, 1.0]))  # r_t = 0
        tuner.step(4)  # -0.004 each
    assert float(tuner.p) == 0.0  # 0.02 - 5 * 0.004, clamped
    fixed = AdaptiveAugmentation(2, p=0.3, target=None)
    fixed.observe(torch.ones(4))
    fixed.step(4)
    assert float(fixed.p) == pytest.approx(0.3)


def test_the_tuning_state_survives_a_state_dict_bit_for_bit():
    tuner = AdaptiveAugmentation(3, p=0.1, target=0.6, interval=4, kimg=0.5)
    for _ in range(6):  # stops mid-interval: the accumulated signs must be kept too
        tuner.observe(torch.randn(4))
        tuner.step(4)
    copy = AdaptiveAugmentation(3, p=0.0, target=0.6, interval=4, kimg=0.5)
    copy.load_state_dict(tuner.state_dict())
    for module in (tuner, copy):
        module.observe(torch.tensor([1.0, 1.0, 1.0, -1.0]))
        module.step(4)
        module.step(4)
    assert torch.equal(copy.strength, tuner.strength) and float(tuner.strength) != 0.1


# --------------------------------------------------------------------------------------------- label smoothing
def test_one_sided_label_smoothing_is_the_cross_entropy_with_target_09():
    real, fake = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.7])
    bce = F.binary_cross_entropy_with_logits
    expected = bce(real, torch.full_like(real, 0.9)) + bce(fake, torch.zeros_like(fake))
    torch.testing.assert_close(AdversarialLoss("bce", real_label=0.9).discriminator(real, fake), expected)
    by_hand = -(0.9 * torch.log(torch.sigmoid(real)) + 0.1 * torch.log(1 - torch.sigmoid(real))).mean()
    torch.testing.assert_close(by_hand - torch.log(1 - torch.sigmoid(fake)).mean(), expected)
    torch.testing.assert_close(
        AdversarialLoss("bce", 0.9).generator(fake), AdversarialLoss("bce").generator(fake)
    )  # the generator's target stays 1
    with pytest.raises(ValueError, match="bce"):
        AdversarialLoss("hinge", real_label=0.9)
