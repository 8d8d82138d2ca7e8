"""ConSinGAN's optimizer policy (Hinz et al. 2021, Sec. 3.1; reference ``ConSinGAN/training_generation.py``,
``train_single_scale``): which generator stages train while a new stage is added, and at which learning rates.
A training decision, so it lives with the engines, not in the network."""

from __future__ import annotations

from medgan.errors import BadInputError
from medgan.networks.consingan import ConSinGANGenerator

__all__ = ["freeze_inactive_stages", "stage_parameter_groups"]


def _first_active_stage(generator: ConSinGANGenerator, active_scales: int) -> int:
    """Index of the oldest stage still trained when the newest ``active_scales`` stages train."""
    if active_scales < 1:
        raise BadInputError(f"active_scales is {active_scales}; set it to 1 or more.")
    return max(generator.num_stages - active_scales, 0)


def freeze_inactive_stages(generator: ConSinGANGenerator, active_scales: int) -> None:
    """Set ``requires_grad`` as ConSinGAN trains: only the newest ``active_scales`` stages, the tail, and the head
    while stage 0 is still among the active stages.

    The reference (``training_generation.py``, ``train_single_scale``) freezes ``body[:-train_depth]`` and leaves
    the head out of the optimizer once stage 0 is no longer trained; here the head is frozen then too (same update,
    no wasted gradient).

    Raises:
        BadInputError: when ``active_scales < 1``.
    """
    first_active = _first_active_stage(generator, active_scales)
    for stage, block in enumerate(generator.body):
        block.requires_grad_(stage >= first_active)
    generator.head.requires_grad_(first_active == 0)
    generator.tail.requires_grad_(True)


def stage_parameter_groups(
    generator: ConSinGANGenerator, active_scales: int, lr: float, lr_factor: float
) -> list[dict]:
    """Adam parameter groups of the generator for the current (newest) stage, as ConSinGAN trains it.

    Following ``ConSinGAN/training_generation.py`` (``train_single_scale``), with ``depth = num_stages - 1``:

    - the newest ``active_scales`` stages train; the stage of age ``a`` (0 = newest) with ``lr * lr_factor ** a``;
    - the head trains only while stage 0 is active (``depth < active_scales``), with ``lr * lr_factor ** depth``,
      i.e. the rate of stage 0; afterwards it is frozen;
    - the tail always trains with ``lr``;
    - all other stages are frozen (``requires_grad`` False, via :func:`freeze_inactive_stages`).

    Args:
        generator: the generator, with its newest stage already added.
        active_scales: number of concurrently trained stages (``train_depth``).
        lr: learning rate of the newest stage (``lr_g``).
        lr_factor: per-age scaling of the learning rate (``lr_scale``, 0.1 in the paper).

    Returns:
        List of ``{"params": [...], "lr": float}`` for ``torch.optim.Adam``.
    """
    freeze_inactive_stages(generator, active_scales)
    depth = generator.num_stages - 1
    first_active = _first_active_stage(generator, active_scales)
    groups = [
        {"params": list(generator.body[stage].parameters()), "lr": lr * lr_factor ** (depth - stage)}
        for stage in range(first_active, generator.num_stages)
    ]
    if first_active == 0:
        groups.append({"params": list(generator.head.parameters()), "lr": lr * lr_factor**depth})
    groups.append({"params": list(generator.tail.parameters()), "lr": lr})
    return groups
