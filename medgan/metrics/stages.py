"""Per-stage figures of a ConSinGAN generator: reconstruction error and single-image patch SWD at every stage.

ConSinGAN (Hinz et al. 2020, https://arxiv.org/abs/2003.11512) and SinGAN (Shaham et al. 2019) train stage k to
(a) reconstruct the training image at stage k's resolution from the fixed noise at stage 0 and zero noise after it,
and (b) make random samples whose patches are distributed like the image's patches at that resolution. These figures
measure both per stage, against the real image pyramid (:func:`medgan.data.pyramid.image_pyramid`):

- reconstruction: mean squared error between the reconstruction (``fixed_noise`` at stage 0, zero noise at the
  later stages, through :meth:`ConSinGANGenerator.generate`) and the real image at that stage, in [-1, 1] units (the
  quantity ConSinGAN's reconstruction loss minimises);
- patch SWD: the sliced Wasserstein distance (:mod:`medgan.metrics.swd`) between the patches of the real image and of
  random samples at that stage; patches shrink to the stage's shortest axis (odd) for very coarse stages.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from medgan.errors import BadInputError
from medgan.metrics.result import MetricResult
from medgan.metrics.swd import PATCH_SIZE, sliced_wasserstein_distance
from medgan.utils import seeded

MIN_PATCH_SIZE = 3


def truncated_generators(generator: nn.Module) -> Iterator[tuple[int, nn.Module]]:
    """``(stage, generator)`` for every built stage, finest first: a copy of ``generator`` that ends at that stage
    (its ``generate`` outputs stage ``stage``'s image). ``generator`` itself is left untouched."""
    truncated = copy.deepcopy(generator).eval()
    for stage in range(generator.num_stages - 1, -1, -1):
        yield stage, truncated
        if stage > 0:
            del truncated.body[stage]


def _check_reals(generator: nn.Module, reals: Sequence[torch.Tensor]) -> None:
    """Raise ``BadInputError`` unless ``reals`` has one (1, C, *shape) image per built stage, at the stage shapes."""
    shapes = generator.stage_shapes.tolist()[: generator.num_stages]
    found = [list(real.shape[2:]) for real in reals[: generator.num_stages]]
    if found != shapes:
        raise BadInputError(
            f"the real pyramid has the shapes {found} but the generator's stages are {shapes}; "
            "build it with medgan.data.pyramid.image_pyramid from the model's stage_shapes."
        )


@torch.no_grad()
def stage_reconstruction_errors(generator: nn.Module, reals: Sequence[torch.Tensor]) -> MetricResult:
    """Reconstruction MSE at every built stage (see the module docstring).

    Args:
        generator: a :class:`medgan.networks.ConSinGANGenerator`.
        reals: the training image at every stage shape, coarsest first, each (1, C, *stage_shape).

    Returns:
        value: the finest stage's error; ``details["per_stage"]``: one error per stage, coarsest first.
    """
    _check_reals(generator, reals)
    device = generator.fixed_noise.device
    shapes = generator.stage_shapes.tolist()
    errors = {}
    for stage, truncated in truncated_generators(generator):
        noise = [None] + [generator.fixed_noise.new_zeros((1, *generator.noise_shape(k))) for k in range(1, stage + 1)]
        reconstruction = truncated.generate(generator.fixed_noise, noise=noise)
        errors[stage] = float(((reconstruction.float() - reals[stage].to(device).float()) ** 2).mean())
    per_stage = [errors[stage] for stage in sorted(errors)]
    return MetricResult(
        name="reconstruction_mse",
        value=per_stage[-1],
        samples={"real": 1, "stages": len(per_stage)},
        settings={"noise": "fixed_noise at stage 0, zeros after", "units": "[-1, 1]"},
        higher_is_better=False,
        details={"per_stage": per_stage, "stage_shapes": shapes[: len(per_stage)]},
    )


def _stage_patch_size(shape: Sequence[int]) -> int:
    shortest = min(shape)
    return min(PATCH_SIZE, shortest if shortest % 2 else shortest - 1)


@torch.no_grad()
def stage_patch_swd(
    generator: nn.Module, reals: Sequence[torch.Tensor], num_samples: int, seed: int = 0
) -> MetricResult:
    """Single-image patch SWD at every built stage (see the module docstring), x 1e3.

    Args:
        generator: a :class:`medgan.networks.ConSinGANGenerator`.
        reals: the training image at every stage shape, coarsest first, each (1, C, *stage_shape).
        num_samples: random samples per stage.
        seed: seeds the samples' noise, the patches and the projections.

    Returns:
        value: the finest stage's distance; ``details["per_stage"]``: one per stage, coarsest first (None for a
        stage thinner than 3 voxels).
    """
    _check_reals(generator, reals)
    device = generator.fixed_noise.device
    first_shape = generator.stage_shapes[0].tolist()
    distances, patch_sizes = {}, {}
    for stage, truncated in truncated_generators(generator):
        real = reals[stage].to(device).float()
        patch_size = _stage_patch_size(real.shape[2:])
        if patch_size < MIN_PATCH_SIZE:
            distances[stage], patch_sizes[stage] = None, None
            continue
        with seeded(seed, device):
            z = torch.randn((num_samples, generator.out_channels, *first_shape), device=device)
            samples = truncated.generate(z).float()
        result = sliced_wasserstein_distance(real.cpu(), samples.cpu(), patch_size=patch_size, seed=seed)
        distances[stage], patch_sizes[stage] = result.value, patch_size
    per_stage = [distances[stage] for stage in sorted(distances)]
    return MetricResult(
        name="stage_patch_swd",
        value=per_stage[-1],
        samples={"real": 1, "generated_per_stage": num_samples, "stages": len(per_stage)},
        settings={"patch_sizes": [patch_sizes[stage] for stage in sorted(patch_sizes)], "scale": 1e3, "seed": seed},
        higher_is_better=False,
        details={"per_stage": per_stage},
        note="sliced Wasserstein distance between the patches of the real image and of random samples at every "
        "stage (coarsest first), x 1e3.",
    )
