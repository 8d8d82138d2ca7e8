"""StyleGAN's training step on the progressive workflow: style mixing regularisation and the running mean of w.

Karras, Laine and Aila 2019 (arXiv:1812.04948), Sec. 3.1; reference NVlabs/stylegan ``G_style``: with probability
``style_mixing_prob`` (0.9) a batch is generated from two latents, the second one's styles taking over from a random
crossover layer among the active stage's layers; every training forward pass updates ``w_avg`` (truncation trick).
"""

from __future__ import annotations

import torch

from medgan.engines.adversarial_trainer import unwrap
from medgan.engines.progressive_trainer import ProgressiveTrainer

__all__ = ["StyleGANTrainer"]

STYLE_MIXING_PROB = 0.9


class StyleGANTrainer(ProgressiveTrainer):
    """:class:`ProgressiveTrainer` for a :class:`medgan.networks.StyleGANGenerator`.

    Args:
        style_mixing_prob: probability that a batch mixes two latents' styles (0.9; 0 turns mixing off).
        *args, **kwargs: as :class:`ProgressiveTrainer`.
    """

    def __init__(self, *args, style_mixing_prob: float = STYLE_MIXING_PROB, **kwargs) -> None:
        self.style_mixing_prob = style_mixing_prob
        super().__init__(*args, **kwargs)

    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        """Images from ``latents`` (B, latent_size), mixed with a second latent's styles with probability
        ``style_mixing_prob`` from a crossover drawn in [1, active styles)."""
        active_styles = 2 * (int(unwrap(self.generator).stage) + 1)
        if float(torch.rand(())) < self.style_mixing_prob:
            cutoff = int(torch.randint(1, active_styles, ()))
            return self.generator(latents, mixing_z=torch.randn_like(latents), mixing_cutoff=cutoff, update_w_avg=True)
        return self.generator(latents, update_w_avg=True)
