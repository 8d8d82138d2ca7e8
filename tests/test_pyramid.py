"""Tests of the ConSinGAN stage shapes, antialiased pyramids and stage resizing."""

import math

import pytest
import torch

from medgan.data.pyramid import consingan_stage_shapes, image_pyramid
from medgan.errors import BadInputError
from medgan.layers.resize import resize, resize_antialiased


def assert_valid_pyramid(shapes, num_scales, finest):
    assert len(shapes) == num_scales
    assert shapes[-1] == finest
    for coarse, fine in zip(shapes, shapes[1:]):
        assert coarse != fine
        assert all(1 <= c <= f for c, f in zip(coarse, fine))


def test_2d_matches_consingan_reference():
    """Values computed with the reference formulas (functions.py, adjust_scales2image and create_reals_pyramid)."""
    shapes = consingan_stage_shapes((200, 250), num_scales=8, max_size=250, min_size=25)
    assert shapes == [(25, 32), (29, 36), (35, 43), (42, 53), (55, 68), (79, 99), (149, 186), (200, 250)]


def test_image_is_rescaled_to_max_size_but_never_enlarged():
    assert consingan_stage_shapes((400, 500), 4, max_size=250, min_size=25)[-1] == (200, 250)
    assert consingan_stage_shapes((100, 120), 4, max_size=250, min_size=25)[-1] == (100, 120)


def test_3d_cube():
    shapes = consingan_stage_shapes((64, 64, 64), num_scales=5, max_size=64, min_size=16)
    assert_valid_pyramid(shapes, 5, (64, 64, 64))
    assert shapes[0] == (16, 16, 16)
    assert all(len(set(shape)) == 1 for shape in shapes)


@pytest.mark.parametrize(
    "image_shape, max_size, min_size",
    [((20, 110, 110), 110, 25), ((80, 96, 112), 112, 25), ((80, 96, 112), 64, 16), ((131, 155, 126), 64, 16)],
)
def test_anisotropic_volumes_keep_their_short_axes(image_shape, max_size, min_size):
    num_scales = 6
    shapes = consingan_stage_shapes(image_shape, num_scales, max_size, min_size)
    finest = shapes[-1]
    assert max(finest) == min(max_size, max(image_shape))
    assert_valid_pyramid(shapes, num_scales, finest)
    for shape in shapes:
        assert all(size >= min(min_size, top) for size, top in zip(shape, finest))
    assert min(shapes[0]) == min(min_size, min(finest))


def test_axis_shorter_than_min_size_never_shrinks():
    shapes = consingan_stage_shapes((20, 110, 110), num_scales=6, max_size=110, min_size=25)
    assert [shape[0] for shape in shapes] == [20] * 6
    assert shapes[0][1:] == (25, 25)


def test_spacing_puts_more_stages_at_low_resolution():
    """ConSinGAN's spacing: small steps at coarse stages, growing towards the finest ones (the last step excepted).

    Stages 1 .. N-3 lie below the geometric pyramid with the same ends; stage N-2 (scale r ** 1) is on it.
    """
    num_scales, size, min_size = 8, 1024, 16
    shapes = consingan_stage_shapes((size, size), num_scales, max_size=size, min_size=min_size)
    sides = [shape[0] for shape in shapes]
    ratios = [fine / coarse for coarse, fine in zip(sides, sides[1:])]
    assert ratios[0] < ratios[2] < ratios[3] < ratios[4] < ratios[5]
    assert ratios[-1] < ratios[-2]
    geometric = [min_size * (size / min_size) ** (stage / (num_scales - 1)) for stage in range(num_scales)]
    assert all(side < g for side, g in zip(sides[1:-2], geometric[1:-2]))
    assert sides[-2] == math.ceil(geometric[-2])


def test_single_scale_is_the_finest_shape():
    assert consingan_stage_shapes((30, 40), 1, max_size=250, min_size=25) == [(30, 40)]


@pytest.mark.parametrize(
    "args, message",
    [
        (((200, 250), 0, 250, 25), "num_scales"),
        (((10, 12), 3, 250, 25), "smaller than min_size"),
        (((200, 250), 3, 20, 25), "min_size"),
        (((0, 250), 3, 250, 25), "no voxels"),
    ],
)
def test_bad_input(args, message):
    with pytest.raises(BadInputError, match=message):
        consingan_stage_shapes(*args)


def test_too_many_scales_names_the_largest_that_works():
    with pytest.raises(BadInputError, match=r"num_scales (\d+) or less") as error:
        consingan_stage_shapes((30, 30), num_scales=12, max_size=30, min_size=25)
    largest = int(error.value.args[0].split("use num_scales ")[1].split()[0])
    assert 1 <= largest < 12
    assert len(consingan_stage_shapes((30, 30), largest, max_size=30, min_size=25)) == largest


def checkerboard(shape):
    grids = torch.meshgrid(*[torch.arange(size) for size in shape], indexing="ij")
    return (sum(grids) % 2).float() * 2 - 1


@pytest.mark.parametrize("shape, target", [((64, 64), (25, 25)), ((24, 32, 32), (9, 11, 13))])
def test_antialiasing_turns_a_checkerboard_into_its_mean(shape, target):
    board = checkerboard(shape)[None, None]
    smoothed = resize_antialiased(board, target)
    assert smoothed.shape == (1, 1, *target)
    assert smoothed.abs().max() < 0.1
    assert resize(board, list(target)).abs().max() > 0.5  # plain interpolation aliases


def test_antialiasing_keeps_a_constant_image_constant_up_to_the_border():
    image = torch.full((1, 1, 20, 30), 0.7)
    torch.testing.assert_close(resize_antialiased(image, (7, 9)), torch.full((1, 1, 7, 9), 0.7))


def test_image_pyramid_unbatched_and_batched():
    shapes = consingan_stage_shapes((20, 24, 28), 3, max_size=28, min_size=8)
    image = torch.rand(2, 20, 24, 28)
    levels = image_pyramid(image, shapes)
    assert [tuple(level.shape) for level in levels] == [(2, *shape) for shape in shapes]
    torch.testing.assert_close(levels[-1], image)
    batched = image_pyramid(image[None], shapes)
    assert [tuple(level.shape) for level in batched] == [(1, 2, *shape) for shape in shapes]
    assert all(math.isclose(float(level.mean()), float(image.mean()), abs_tol=0.02) for level in levels)


def test_image_pyramid_rejects_wrong_dimensionality():
    with pytest.raises(BadInputError, match="spatial axes"):
        image_pyramid(torch.rand(20, 24), [(10, 12, 14)])


def test_resize_upsamples_and_is_scriptable():
    x = torch.rand(2, 3, 4, 5, 6)
    scripted = torch.jit.script(resize)
    torch.testing.assert_close(scripted(x, [8, 10, 12]), resize(x, [8, 10, 12]))
    assert resize(x, [4, 5, 6]) is x
