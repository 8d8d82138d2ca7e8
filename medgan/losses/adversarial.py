"""Adversarial losses on raw discriminator logits, one object per formulation.

Each loss has two phases, as in stylegan2-ada-pytorch's ``loss.py``: ``discriminator(real_logits, fake_logits)``
and ``generator(fake_logits)``, both returning a scalar mean over the batch (and over patches, for patch critics).

- ``"bce"``: the non-saturating logistic loss of Goodfellow et al. 2014 (DCGAN):
  D: softplus(-D(x)) + softplus(D(G(z))); G: softplus(-D(G(z))).
  With one-sided label smoothing (Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 3.4) the
  reals' target is ``real_label`` (e.g. 0.9) instead of 1: D's real term is the binary cross-entropy
  real_label * softplus(-D(x)) + (1 - real_label) * softplus(D(x)); the fakes' target stays 0.
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
    """The adversarial loss of one GAN formulation (see module docstring); ``kind`` is one of ``LOSS_KINDS``;
    ``real_label`` in (0.5, 1] is the reals' target of the ``"bce"`` loss (1: no label smoothing)."""

    def __init__(self, kind: str = "bce", real_label: float = 1.0) -> None:
        if kind not in LOSS_KINDS:
            raise ValueError(f"adversarial loss kind must be one of {LOSS_KINDS}, got {kind!r}.")
        if not 0.5 < real_label <= 1.0:
            raise ValueError(f"real_label must be in (0.5, 1], got {real_label}.")
        if real_label != 1.0 and kind != "bce":
            raise ValueError(f"label smoothing (real_label {real_label}) needs the bce loss, not {kind!r}.")
        self.kind = kind
        self.real_label = real_label

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss the discriminator minimises; logits of any shape, reduced to a scalar."""
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        if self.kind == "bce":
            real_term = F.softplus(-real_logits).mean()
            if self.real_label != 1.0:
                real_term = self.real_label * real_term + (1.0 - self.real_label) * F.softplus(real_logits).mean()
            return real_term + F.softplus(fake_logits).mean()
        if self.kind == "hinge":
            return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return fake_logits.mean() - real_logits.mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss the generator minimises, from the discriminator's logits on generated images."""
        fake_logits = fake_logits.float()
        if self.kind == "bce":
            return F.softplus(-fake_logits).mean()
        return -fake_logits.mean()
