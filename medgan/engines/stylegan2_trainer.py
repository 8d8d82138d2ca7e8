"""StyleGAN2 training step: non-saturating logistic loss, style mixing, lazy R1 and lazy path-length
regularisation (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020; phases as in
stylegan2-ada-pytorch's ``StyleGAN2Loss``: Gmain, Greg, Dmain, Dreg).

Built on :class:`~medgan.engines.AdversarialTrainer` (one discriminator and one generator update per iteration)
by overriding its parts:

- :meth:`generate` maps z to ws with style mixing (probability ``style_mixing_prob``: from a random layer on, the
  ws of a second z) and updates the generator's ``w_avg``, then runs the synthesis network;
- :meth:`discriminator_step` adds, every ``r1_interval`` iterations, a separate update on
  ``gamma / 2 * ||grad D(real)||^2 * r1_interval`` (lazy R1);
- :meth:`generator_phase` adds, every ``pl_interval`` iterations, a separate update on the path-length penalty of a
  batch ``pl_batch_shrink`` times smaller, times ``pl_weight * pl_interval``.

When a regulariser runs is a function of the engine's iteration count (``(iteration - 1) % interval == 0``, the
reference's ``batch_idx % interval == 0``), and the running path-length mean lives in the
:class:`~medgan.losses.PathLengthPenalty` module's buffers, so a resumed run repeats an uninterrupted one exactly
when those modules are in the checkpoint. The regularisation passes run in float32 even with ``amp``.
Each iteration's output adds ``r1_penalty`` and ``pl_penalty`` (the last values computed, batch means).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim import Optimizer

from medgan.augment import Augmentation
from medgan.engines.adversarial_trainer import AdversarialTrainer, images_from_batch, uncompiled, unwrap
from medgan.losses.stylegan2_regularizers import PathLengthPenalty, R1Penalty

__all__ = ["StyleGAN2Trainer"]


class StyleGAN2Trainer(AdversarialTrainer):
    """Trains a :class:`~medgan.networks.StyleGAN2Generator` against a
    :class:`~medgan.networks.StyleGAN2Discriminator`.

    Args:
        device, max_epochs, train_data_loader, generator, discriminator, g_optimizer, d_optimizer: as in
            :class:`AdversarialTrainer` (the networks may be wrapped in DistributedDataParallel; build the
            optimizers with :func:`~medgan.losses.lazy_regularization_adam`).
        r1_gamma: R1 weight gamma (0: off); :func:`~medgan.losses.auto_r1_gamma` gives the reference's default.
        r1_interval: discriminator steps between R1 updates (16).
        pl_weight: path-length weight (2; 0: off).
        pl_interval: generator steps between path-length updates (4).
        pl_batch_shrink: the path-length batch is the batch size divided by this (2).
        style_mixing_prob: probability of style mixing per batch (0.9).
        real_label: the reals' target of the logistic loss (1; one-sided label smoothing: 0.9).
        augment: as in :class:`AdversarialTrainer`; R1 is the gradient with respect to the reals through the
            augmentation, as in stylegan2-ada-pytorch.
        r1_penalty, path_length: the regulariser modules (pass the ones saved in the checkpoint); new ones if None.
        amp, epoch_length, non_blocking, train_handlers, prepare_batch, channels_last, torch_compile: as in
            :class:`AdversarialTrainer`.
    """

    def __init__(
        self,
        device: torch.device | str,
        max_epochs: int,
        train_data_loader,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        r1_gamma: float = 10.0,
        r1_interval: int = 16,
        pl_weight: float = 2.0,
        pl_interval: int = 4,
        pl_batch_shrink: int = 2,
        style_mixing_prob: float = 0.9,
        real_label: float = 1.0,
        augment: Augmentation | None = None,
        r1_penalty: R1Penalty | None = None,
        path_length: PathLengthPenalty | None = None,
        amp: bool | str | None = None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        train_handlers: Sequence | None = None,
        prepare_batch: Callable = images_from_batch,
        channels_last: bool = False,
        torch_compile: bool = False,
    ) -> None:
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob}.")
        if pl_batch_shrink < 1:
            raise ValueError(f"pl_batch_shrink must be at least 1, got {pl_batch_shrink}.")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            generator=generator,
            discriminator=discriminator,
            g_optimizer=g_optimizer,
            d_optimizer=d_optimizer,
            latent_shape=(unwrap(generator).latent_size,),
            loss="bce",
            real_label=real_label,
            augment=augment,
            amp=amp,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            train_handlers=train_handlers,
            prepare_batch=prepare_batch,
            channels_last=channels_last,
            torch_compile=torch_compile,
        )
        self.r1_gamma = r1_gamma
        self.r1_interval = r1_interval
        self.pl_weight = pl_weight
        self.pl_interval = pl_interval
        self.pl_batch_shrink = pl_batch_shrink
        self.style_mixing_prob = style_mixing_prob
        self.r1_penalty = (r1_penalty or R1Penalty()).to(self.state.device)
        self.path_length = (path_length or PathLengthPenalty()).to(self.state.device)

    # --------------------------------------------------------------------------------------------- mapping and mixing
    def map_latents(self, z: torch.Tensor) -> torch.Tensor:
        """ws (B, num_ws, w_dim) for z (B, latent_size), style-mixed with probability ``style_mixing_prob``, updating
        ``w_avg`` (the reference's ``run_G``: cutoff ~ U{1, ..., num_ws - 1}, the second z always drawn)."""
        generator = unwrap(self.generator)
        num_ws = generator.num_ws
        if self.style_mixing_prob <= 0 or num_ws < 2:
            return generator.map(z, update_w_avg=True)
        cutoff = int(torch.randint(1, num_ws, ()))
        if float(torch.rand(())) >= self.style_mixing_prob:
            cutoff = num_ws
        return generator.map(z, update_w_avg=True, mixing_z=torch.randn_like(z), mixing_cutoff=cutoff)

    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        """Images (B, C, *spatial) from z (B, latent_size) through the (possibly DDP-wrapped) generator."""
        return self.generator(latents, ws=self.map_latents(latents))

    # ----------------------------------------------------------------------------------------------------- lazy steps
    def is_due(self, interval: int) -> bool:
        """Whether a regulariser with ``interval`` runs in this iteration (every iteration when interval <= 1)."""
        return interval <= 1 or (self.state.iteration - 1) % interval == 0

    def r1_step(self, real: torch.Tensor) -> None:
        """One discriminator update on the lazy R1 term: the gradient of D(augment(x)) with respect to the real
        images x themselves, through the augmentation (stylegan2-ada-pytorch's Dreg phase), so its Jacobian (the
        resampling filters, a contrast factor) is part of the penalty."""
        discriminator = uncompiled(self.discriminator)
        penalty, logits = self.r1_penalty(lambda images: discriminator(self.augment(images)), real)
        loss = (penalty.mean() * (self.r1_gamma / 2) + logits.mean() * 0) * max(self.r1_interval, 1)
        self._optimise(loss, self.d_optimizer, self.d_scaler)

    def path_length_step(self, batch_size: int) -> None:
        """One generator update on the lazy path-length term, on ``batch_size // pl_batch_shrink`` new samples."""
        z = self.sample_latents(max(batch_size // self.pl_batch_shrink, 1))
        ws = self.map_latents(z)
        images = uncompiled(self.generator)(z, ws=ws)
        penalty = self.path_length(images, ws)
        loss = (penalty.mean() * self.pl_weight + images.mean() * 0) * max(self.pl_interval, 1)
        self._optimise(loss, self.g_optimizer, self.g_scaler)

    def discriminator_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = super().discriminator_step(real)
        if self.r1_gamma > 0 and self.is_due(self.r1_interval):
            self.r1_step(real)
        terms["r1_penalty"] = self.r1_penalty.last.clone()
        return terms

    def generator_phase(self, real: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        terms, fake = super().generator_phase(real)
        if self.pl_weight > 0 and self.is_due(self.pl_interval):
            self.path_length_step(real.shape[0])
        terms["pl_penalty"] = self.path_length.last.clone()
        return terms, fake
