"""The progressive-growing schedule: which stage, which fade-in alpha and which batch every iteration trains with.

Karras et al. 2018 (arXiv:1710.10196), Sec. 2 and A.1: each resolution is shown a number of real images; during
the first half of its stage the new block fades in (alpha rises linearly from 0 to 1 with the images shown), the
second half stabilises it (alpha = 1). The first stage has nothing to fade in. Batch sizes may differ per
resolution (the paper lowers them at 256 px and above). Everything is a pure function of the iteration number, so
a resumed run gets exactly the uninterrupted run's stages, alphas and images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medgan.errors import BadInputError

__all__ = ["FADE_FRACTION", "Progress", "ProgressiveSchedule", "num_stages_for", "per_resolution"]

FADE_FRACTION = 0.5
"""Fraction of a stage's images over which its block fades in."""


@dataclass(frozen=True)
class Progress:
    """Where training stands before an iteration: the stage, its resolution, the new block's alpha, the iteration
    within the stage (0-based) and the real images shown so far (by all processes together)."""

    stage: int
    resolution: int
    alpha: float
    iteration_in_stage: int
    images_seen: int


def num_stages_for(image_size: int, base_resolution: int = 4) -> int:
    """Stages from ``base_resolution`` to ``image_size`` by doublings; a clear error if that is no doubling."""
    is_int = isinstance(image_size, int) and not isinstance(image_size, bool)
    ratio = image_size / base_resolution if is_int else 0
    if not (ratio >= 1 and float(ratio).is_integer() and math.log2(ratio).is_integer()):
        raise BadInputError(
            f"image_size {image_size!r} is not {base_resolution} times a power of two; use 8, 16, 32, 64, 128 or 256."
        )
    return int(math.log2(ratio)) + 1


def per_resolution(default, overrides: Mapping | None, resolutions: Sequence[int], name: str) -> list:
    """``default`` for every resolution, replaced where ``overrides`` (resolution -> value; keys may be strings,
    as JSON writes them) names one. Resolutions beyond this run are ignored (the defaults hold the paper's values up
    to 1024 px); a key that is no resolution of the scheme at all gets a clear error."""
    table = {}
    for key, value in (overrides or {}).items():
        try:
            resolution = int(key)
        except (TypeError, ValueError):
            resolution = 0
        if resolution < resolutions[0] or resolution & (resolution - 1):
            raise BadInputError(
                f"{name} names resolution {key!r}, which is not a power of two from {resolutions[0]}; "
                "use keys such as 8, 16, 32, 64, 128 or 256."
            )
        table[resolution] = value
    return [table.get(resolution, default) for resolution in resolutions]


class ProgressiveSchedule:
    """Stages, alphas and batches of a progressive run, by iteration.

    Args:
        resolutions: resolution of every stage (side of its largest axis), coarsest first.
        images_per_stage: real images shown in each stage (fade-in half + stabilising half).
        batch_sizes: images per process per iteration in each stage.
        world_size: processes training together (each iteration shows ``batch_size * world_size`` images).
    """

    def __init__(
        self,
        resolutions: Sequence[int],
        images_per_stage: Sequence[int],
        batch_sizes: Sequence[int],
        world_size: int = 1,
    ) -> None:
        if not len(resolutions) == len(images_per_stage) == len(batch_sizes):
            raise ValueError("resolutions, images_per_stage and batch_sizes need one entry per stage.")
        for resolution, images, batch in zip(resolutions, images_per_stage, batch_sizes):
            if not (isinstance(batch, int) and batch >= 1):
                raise BadInputError(f"the batch size at {resolution} px is {batch!r}; use a positive integer.")
            if not (isinstance(images, int) and images >= batch * world_size):
                raise BadInputError(
                    f"the stage at {resolution} px shows {images!r} images, fewer than one batch of "
                    f"{batch * world_size}; raise images_per_stage."
                )
        self.resolutions = [int(r) for r in resolutions]
        self.images_per_stage = [int(n) for n in images_per_stage]
        self.batch_sizes = [int(b) for b in batch_sizes]
        self.world_size = world_size
        self.iterations_per_stage = [
            math.ceil(images / (batch * world_size)) for images, batch in zip(self.images_per_stage, self.batch_sizes)
        ]
        self.stage_starts = [sum(self.iterations_per_stage[:stage]) for stage in range(self.num_stages)]

    @classmethod
    def from_settings(
        cls,
        image_size: int,
        images_per_stage: int,
        batch_size: int,
        images_per_stage_per_resolution: Mapping | None = None,
        batch_size_per_resolution: Mapping | None = None,
        base_resolution: int = 4,
        world_size: int = 1,
    ) -> ProgressiveSchedule:
        """The schedule a bundle's keys describe: defaults for every resolution and per-resolution exceptions."""
        stages = num_stages_for(image_size, base_resolution)
        resolutions = [base_resolution * 2**stage for stage in range(stages)]
        images = per_resolution(
            images_per_stage, images_per_stage_per_resolution, resolutions, "images_per_stage_per_resolution"
        )
        batches = per_resolution(batch_size, batch_size_per_resolution, resolutions, "batch_size_per_resolution")
        return cls(resolutions, images, batches, world_size)

    @property
    def num_stages(self) -> int:
        return len(self.resolutions)

    @property
    def total_iterations(self) -> int:
        return sum(self.iterations_per_stage)

    def global_batch(self, stage: int) -> int:
        """Images one iteration of ``stage`` shows, all processes together."""
        return self.batch_sizes[stage] * self.world_size

    def progress(self, iteration: int) -> Progress:
        """Where the run stands before iteration ``iteration`` (0-based; ``total_iterations`` = finished)."""
        if not 0 <= iteration <= self.total_iterations:
            raise ValueError(f"iteration must be in [0, {self.total_iterations}], got {iteration}.")
        stage = max(s for s in range(self.num_stages) if self.stage_starts[s] <= iteration)
        within = iteration - self.stage_starts[stage]
        images_before = sum(n * self.global_batch(s) for s, n in enumerate(self.iterations_per_stage[:stage]))
        shown_in_stage = within * self.global_batch(stage)
        alpha = 1.0 if stage == 0 else min(1.0, shown_in_stage / (FADE_FRACTION * self.images_per_stage[stage]))
        return Progress(stage, self.resolutions[stage], alpha, within, images_before + shown_in_stage)

    def is_stage_end(self, iteration: int) -> bool:
        """Whether ``iteration`` (1-based, as ignite counts) is the last of its stage."""
        return any(iteration == start + n for start, n in zip(self.stage_starts, self.iterations_per_stage))
