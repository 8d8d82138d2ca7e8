"""The progressive schedule: stages, linear fade-in over the first half of a stage, batches per resolution."""

import pytest

from medgan.engines import ProgressiveSchedule
from medgan.engines.progressive_schedule import num_stages_for
from medgan.errors import BadInputError


def test_stages_iterations_and_images():
    schedule = ProgressiveSchedule([4, 8, 16], [16, 32, 24], [4, 8, 4])
    assert schedule.iterations_per_stage == [4, 4, 6]
    assert schedule.total_iterations == 14
    assert [schedule.progress(i).stage for i in range(14)] == [0] * 4 + [1] * 4 + [2] * 6
    assert [schedule.progress(i).images_seen for i in (0, 4, 5, 8, 13)] == [0, 16, 24, 48, 68]
    assert [i for i in range(1, 15) if schedule.is_stage_end(i)] == [4, 8, 14]


def test_alpha_rises_linearly_over_the_first_half_of_a_stage():
    schedule = ProgressiveSchedule([4, 8], [8, 64], [2, 4])
    assert [schedule.progress(i).alpha for i in range(4)] == [1.0] * 4  # nothing fades in at the first stage
    alphas = [schedule.progress(i).alpha for i in range(4, 4 + 16)]
    assert alphas[:9] == pytest.approx([k / 8 for k in range(9)])
    assert alphas[8:] == [1.0] * 8


def test_world_size_counts_every_process_images():
    schedule = ProgressiveSchedule([4, 8], [16, 16], [2, 2], world_size=2)
    assert schedule.iterations_per_stage == [4, 4]
    assert schedule.progress(5).images_seen == 20
    assert schedule.progress(5).alpha == pytest.approx(0.5)


def test_from_settings_with_per_resolution_values():
    schedule = ProgressiveSchedule.from_settings(
        32, 100, 16, images_per_stage_per_resolution={"32": 200}, batch_size_per_resolution={"16": 8, "256": 14}
    )
    assert schedule.resolutions == [4, 8, 16, 32]
    assert schedule.images_per_stage == [100, 100, 100, 200]
    assert schedule.batch_sizes == [16, 16, 8, 16]  # 256 px is beyond this run: ignored


@pytest.mark.parametrize("image_size", [3, 48, 2, "64"])
def test_a_final_resolution_that_is_no_doubling_is_refused(image_size):
    with pytest.raises(BadInputError, match="image_size"):
        num_stages_for(image_size)


def test_bad_per_resolution_keys_and_short_stages_are_refused():
    with pytest.raises(BadInputError, match="batch_size_per_resolution names resolution '48'"):
        ProgressiveSchedule.from_settings(64, 100, 16, batch_size_per_resolution={"48": 8})
    with pytest.raises(BadInputError, match="fewer than one batch"):
        ProgressiveSchedule.from_settings(16, 8, 16)
