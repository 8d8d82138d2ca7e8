"""Per-axis image shapes of the StyleGAN2 data (:mod:`medgan.data.shaped`)."""

from __future__ import annotations

import pytest

from medgan.data.shaped import image_shape_for
from medgan.errors import BadInputError


def test_image_size_must_be_the_base_shape_times_a_power_of_two():
    assert image_shape_for(3, [80, 96, 112], [5, 6, 7]) == ([80, 96, 112], [5, 6, 7])
    assert image_shape_for(2, 64) == ([64, 64], [4, 4])
    for size, base in ((96, None), ([80, 96, 100], [5, 6, 7]), (4, None)):
        with pytest.raises(BadInputError, match="power of two"):
            image_shape_for(len(base or [0, 0]), size, base)
