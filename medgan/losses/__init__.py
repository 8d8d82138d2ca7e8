"""Adversarial losses and discriminator regularisers."""

from medgan.losses.adversarial import LOSS_KINDS, AdversarialLoss
from medgan.losses.regularizers import gradient_penalty

__all__ = ["LOSS_KINDS", "AdversarialLoss", "gradient_penalty"]
