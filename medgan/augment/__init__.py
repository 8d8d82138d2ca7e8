"""Augmentation of what the discriminator sees, for small datasets, in 2D and 3D: adaptive (ADA) and DiffAugment.

:func:`build_augmentation` makes the one a bundle's ``augment`` key names; the trainers apply it to real and
generated images before the discriminator (:class:`medgan.engines.AdversarialTrainer`).
"""

from __future__ import annotations

from collections.abc import Sequence

from medgan.augment.ada import ADA_OPS, DEFAULT_ADA_OPS, AdaptiveAugmentation
from medgan.augment.base import AXIS_NAMES, Augmentation, NoAugmentation
from medgan.augment.diffaugment import POLICIES, DiffAugment

AUGMENT_KINDS = ("none", "ada", "diffaugment")

__all__ = [
    "ADA_OPS",
    "AUGMENT_KINDS",
    "AXIS_NAMES",
    "AdaptiveAugmentation",
    "Augmentation",
    "DEFAULT_ADA_OPS",
    "DiffAugment",
    "NoAugmentation",
    "POLICIES",
    "build_augmentation",
]


def build_augmentation(
    kind: str,
    spatial_dims: int,
    p: float = 0.0,
    target: float | None = 0.6,
    interval: int = 4,
    kimg: float = 500.0,
    flips: Sequence[str] = ("left-right",),
    ada_ops: Sequence[str] = DEFAULT_ADA_OPS,
    policy: Sequence[str] = POLICIES,
) -> Augmentation:
    """The augmentation a bundle's keys describe: ``kind`` one of :data:`AUGMENT_KINDS`; ``p``, ``target``,
    ``interval``, ``kimg``, ``flips`` and ``ada_ops`` for ``"ada"`` (:class:`AdaptiveAugmentation`), ``policy`` for
    ``"diffaugment"`` (:class:`DiffAugment`)."""
    if kind == "none":
        return NoAugmentation()
    if kind == "ada":
        return AdaptiveAugmentation(spatial_dims, p, target, interval, kimg, flips, ada_ops)
    if kind == "diffaugment":
        return DiffAugment(policy)
    raise ValueError(f"augment {kind!r} is not known; use one of {', '.join(AUGMENT_KINDS)}.")
