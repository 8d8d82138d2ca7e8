"""Progressive growing (PGGAN, and StyleGAN on the same scheme) as an :class:`AdversarialTrainer`.

Karras et al. 2018 (arXiv:1710.10196), reference tkarras/progressive_growing_of_gans ``train.py``. The run is one
ignite epoch of :attr:`ProgressiveSchedule.total_iterations` iterations; before each one the schedule (a function of
the iteration number alone) gives the stage, the fade-in alpha and the batch size, and the trainer

1. sets ``stage`` and ``alpha`` on the generator and the discriminator (buffers: the checkpoint holds them);
2. resets both optimizers' moments when a stage starts and when its fade-in ends, as the reference does
   (``reset_opt_for_new_lod``: whenever the level of detail's floor or ceiling changes);
3. takes the next ``batch_size`` images of a shuffled stream (one permutation per pass over the data, seeded by
   ``seed`` and the pass, each process its own slice), average-pooled to the stage's resolution and, during the
   fade-in, blended with their previous-stage version (:func:`medgan.data.progressive.fade_reals`).

The loss is WGAN-GP (lambda 10) plus the drift term ``drift * E[D(real)^2]`` (paper Sec. A.1, epsilon_drift 0.001).
Because the state is derived from the iteration, a run resumed from a checkpoint taken mid-fade continues with the
same alphas, batches and random numbers as the uninterrupted run.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.optim import Optimizer

from medgan.augment import Augmentation
from medgan.data.progressive import fade_reals, stage_pyramid
from medgan.engines.adversarial_trainer import AdversarialTrainer, unwrap
from medgan.engines.progressive_schedule import Progress, ProgressiveSchedule
from medgan.losses import gradient_penalty

__all__ = ["ProgressiveTrainer"]

DRIFT = 0.001
"""Weight of the drift term E[D(real)^2] that keeps the critic's output near zero (paper Sec. A.1)."""


class ProgressiveTrainer(AdversarialTrainer):
    """Train a progressive generator and critic (``set_progress(stage, alpha)`` networks) by a schedule.

    Args:
        device: where the networks and images live.
        images: all training images at the final resolution, (N, C, *final_shape), in [-1, 1].
        generator, discriminator: :class:`medgan.networks.progressive.ProgressiveNetwork` subclasses (maybe in DDP).
        g_optimizer, d_optimizer: their optimizers (Adam lr 1e-3, betas (0, 0.99) in the paper).
        latent_size: length of z.
        schedule: the :class:`ProgressiveSchedule` (its ``world_size`` must be the number of processes).
        lambda_grad_penalty: WGAN-GP weight (10).
        drift: weight of E[D(real)^2] (0.001).
        seed: seed of the data order.
        amp, channels_last, torch_compile, augment: as in :class:`AdversarialTrainer` (the augmentation works on the
            reals at the stage's resolution, faded, and on the fakes).
        train_handlers: ignite/MONAI handlers.
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
        augment: Augmentation | None = None,
    ) -> None:
        self.schedule = schedule
        self.rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        if len(images) < max(schedule.batch_sizes):
            raise ValueError(f"{len(images)} images are fewer than the largest batch size {max(schedule.batch_sizes)}.")
        if unwrap(generator).num_stages != schedule.num_stages:
            raise ValueError("the generator's num_stages differs from the schedule's.")
        super().__init__(
            device=device,
            max_epochs=1,
            train_data_loader=itertools.repeat(None),
            epoch_length=schedule.total_iterations,
            generator=generator,
            discriminator=discriminator,
            g_optimizer=g_optimizer,
            d_optimizer=d_optimizer,
            latent_shape=(latent_size,),
            loss="wgan",
            lambda_grad_penalty=lambda_grad_penalty,
            augment=augment,
            amp=amp,
            prepare_batch=lambda batch, device, non_blocking: self.current_reals(),
            channels_last=channels_last,
            torch_compile=torch_compile,
        )
        self.drift = drift
        self.seed = seed
        self.reals = [level.to(self.state.device) for level in stage_pyramid(images, schedule.num_stages)]
        self._permutation: tuple[int, torch.Tensor] | None = None  # (pass over the data, its order), cached
        if train_handlers is not None:
            self._register_handlers(train_handlers)

    # ------------------------------------------------------------------------------------------------ the schedule
    @property
    def progress(self) -> Progress:
        """Where the current iteration stands (during an iteration; before the first, iteration 0)."""
        return self.schedule.progress(max(self.state.iteration - 1, 0))

    def _image_indices(self, start: int, count: int) -> torch.Tensor:
        """Indices of positions ``start .. start + count - 1`` of the endless shuffled stream of images."""
        indices = []
        for position in range(start, start + count):
            data_pass, offset = divmod(position, len(self.reals[0]))
            if self._permutation is None or self._permutation[0] != data_pass:
                rng = torch.Generator().manual_seed(self.seed * 1_000_003 + data_pass)
                self._permutation = (data_pass, torch.randperm(len(self.reals[0]), generator=rng))
            indices.append(int(self._permutation[1][offset]))
        return torch.tensor(indices, device=self.state.device)

    def current_reals(self) -> torch.Tensor:
        """This iteration's real batch (batch_size, C, *stage_shape), this process's slice of the stream."""
        progress = self.progress
        batch = self.schedule.batch_sizes[progress.stage]
        indices = self._image_indices(progress.images_seen + self.rank * batch, batch)
        reals = self.reals[progress.stage][indices]
        if progress.stage > 0:
            reals = fade_reals(reals, self.reals[progress.stage - 1][indices], progress.alpha)
        return reals

    def before_iteration(self) -> None:
        """Set stage and alpha on both networks; fresh optimizer moments where a stage starts or its fade ends."""
        progress = self.progress
        for network in (unwrap(self.generator), unwrap(self.discriminator)):
            network.set_progress(progress.stage, progress.alpha)
        if (progress.iteration_in_stage == 0 and progress.stage > 0) or self._fade_just_ended(progress):
            for optimizer in (self.g_optimizer, self.d_optimizer):
                optimizer.state = defaultdict(dict)

    def _fade_just_ended(self, progress: Progress) -> bool:
        if progress.stage == 0 or progress.alpha < 1.0 or progress.iteration_in_stage == 0:
            return False
        return self.schedule.progress(self.state.iteration - 2).alpha < 1.0

    # ----------------------------------------------------------------------------------------------------- the loss
    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """WGAN loss + ``lambda_grad_penalty`` * gradient penalty + ``drift`` * E[D(real)^2]."""
        with self.precision.autocast():
            real_scores = self.discriminator(real)
            fake_scores = self.discriminator(fake)
        adversarial = self.adversarial_loss.discriminator(real_scores, fake_scores)
        self.augment.observe(real_scores)
        drift = real_scores.float().square().mean()
        penalty = gradient_penalty(unwrap(self.discriminator), real, fake.to(real.dtype))
        return {
            "loss_d": adversarial + self.lambda_grad_penalty * penalty + self.drift * drift,
            "loss_d_adv": adversarial,
            "grad_penalty": penalty,
            "drift_penalty": drift,
        }

    def _iteration(self, engine: AdversarialTrainer, batchdata) -> dict:
        """The shared step, its output extended by ``resolution``, ``alpha`` and ``images_seen`` (after it)."""
        output = super()._iteration(engine, batchdata)
        progress = self.progress
        output.update(
            resolution=progress.resolution,
            alpha=progress.alpha,
            images_seen=progress.images_seen + self.schedule.global_batch(progress.stage),
        )
        return output
