"""Adversarial losses and discriminator regularisers."""

from medgan.losses.adversarial import LOSS_KINDS, AdversarialLoss
from medgan.losses.regularizers import gradient_penalty
from medgan.losses.stylegan2_regularizers import (
    PathLengthPenalty,
    R1Penalty,
    auto_r1_gamma,
    lazy_regularization_adam,
)

__all__ = [
    "AdversarialLoss",
    "LOSS_KINDS",
    "PathLengthPenalty",
    "R1Penalty",
    "auto_r1_gamma",
    "gradient_penalty",
    "lazy_regularization_adam",
]
