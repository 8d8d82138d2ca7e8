"""Adversarial losses on raw discriminator logits, one object per formulation.

Each loss has two phases, as in stylegan2-ada-pytorch's ``loss.py``: ``discriminator(real_logits, fake_logits)``
and ``generator(fake_logits)``, both returning a scalar mean over the batch (and over patches, for patch critics).

- ``"bce"``: the non-saturating logistic loss of Goodfellow et al. 2014 (DCGAN):
  D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z))).
  Written with softplus on logits instead of MONAI's ``PatchAdversarialLoss`` (sigmoid, then BCELoss), which
  saturates in half precision; the two agree in float32.
- ``"hinge"``: Lim & Ye 2017, Miyato et al. 2018 (SNGAN): D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z)).
- ``"wgan"``: Arjovsky et al. 2017, Gulrajani et al. 2017 (use with a gradient penalty):
  D: D(G(z)) - D(x); G: -D(G(z)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSS_KINDS = ("bce", "hinge", "wgan")


class AdversarialLoss:
    """The adversarial loss of one GAN formulation (see module docstring); ``kind`` is one of ``LOSS_KINDS``."""

    def __init__(self, kind: str = "bce") -> None:
        if kind not in LOSS_KINDS:
            raise ValueError(f"adversarial loss kind must be one of {LOSS_KINDS}, got {kind!r}.")
        self.kind = kind

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss the discriminator minimises; logits of any shape, reduced to a scalar."""
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        if self.kind == "bce":
            return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        if self.kind == "hinge":
            return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return fake_logits.mean() - real_logits.mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss the generator minimises, from the discriminator's logits on generated images."""
        fake_logits = fake_logits.float()
        if self.kind == "bce":
            return F.softplus(-fake_logits).mean()
        return -fake_logits.mean()
