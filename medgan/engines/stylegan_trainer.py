"""StyleGAN's training step on the progressive workflow: style mixing regularisation and the running mean of w.

Karras, Laine and Aila 2019 (arXiv:1812.04948), Sec. 3.1; reference NVlabs/stylegan ``G_style``: with probability
``style_mixing_prob`` (0.9) a batch is generated from two latents, the second one's styles taking over from a random
crossover layer among the active stage's layers; every training forward pass updates ``w_avg`` (truncation trick).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.optim import Optimizer

from medgan.augment import Augmentation
from medgan.engines.adversarial_trainer import unwrap
from medgan.engines.progressive_schedule import ProgressiveSchedule
from medgan.engines.progressive_trainer import DRIFT, ProgressiveTrainer

__all__ = ["StyleGANTrainer"]

STYLE_MIXING_PROB = 0.9


class StyleGANTrainer(ProgressiveTrainer):
    """:class:`ProgressiveTrainer` for a :class:`medgan.networks.StyleGANGenerator`.

    Args:
        style_mixing_prob: probability that a batch mixes two latents' styles (0.9; 0 turns mixing off).
        the others: as :class:`ProgressiveTrainer`.
    """

    def __init__(
        self,
        device: torch.device | str,
        images: torch.Tensor,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        latent_size: int,
        schedule: ProgressiveSchedule,
        lambda_grad_penalty: float = 10.0,
        drift: float = DRIFT,
        seed: int = 0,
        amp: bool | str | None = None,
        train_handlers: Sequence | None = None,
        channels_last: bool = False,
        torch_compile: bool = False,
        style_mixing_prob: float = STYLE_MIXING_PROB,
        augment: Augmentation | None = None,
    ) -> None:
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob}.")
        self.style_mixing_prob = style_mixing_prob
        super().__init__(
            device=device,
            images=images,
            generator=generator,
            discriminator=discriminator,
            g_optimizer=g_optimizer,
            d_optimizer=d_optimizer,
            latent_size=latent_size,
            schedule=schedule,
            lambda_grad_penalty=lambda_grad_penalty,
            drift=drift,
            seed=seed,
            amp=amp,
            train_handlers=train_handlers,
            channels_last=channels_last,
            torch_compile=torch_compile,
            augment=augment,
        )

    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        """Images from ``latents`` (B, latent_size), mixed with a second latent's styles with probability
        ``style_mixing_prob`` from a crossover drawn in [1, active styles)."""
        active_styles = 2 * (int(unwrap(self.generator).stage) + 1)
        if float(torch.rand(())) < self.style_mixing_prob:
            cutoff = int(torch.randint(1, active_styles, ()))
            return self.generator(latents, mixing_z=torch.randn_like(latents), mixing_cutoff=cutoff, update_w_avg=True)
        return self.generator(latents, update_w_avg=True)
