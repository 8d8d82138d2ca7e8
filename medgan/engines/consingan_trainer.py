"""ConSinGAN's multi-stage training on one image, as an :class:`AdversarialTrainer` whose epochs are stages.

Hinz et al. 2021 (arXiv:2003.11512), reference code tohinz/ConSinGAN ``training_generation.py``. Epoch ``k`` (1-based)
trains stage ``k - 1`` for ``iterations_per_stage`` iterations (ignite's ``epoch_length``). When a stage starts:

1. the generator grows a stage, initialised from the previous one (:meth:`ConSinGANGenerator.add_stage`);
2. its noise amplitude is ``noise_amp * RMSE(reconstruction, real)`` measured with the new stage's amplitude at 0;
3. the generator's optimizer gets ConSinGAN's parameter groups (newest ``active_scales`` stages, lr scaled by
   ``lr_factor`` per stage of age; older stages frozen) and both optimizers start with fresh moments, as the
   reference builds new ones; the discriminator keeps its weights (the reference loads the previous stage's);
4. the learning rates drop by ``gamma_scheduler`` after 80 % of the stage's iterations (the reference's
   ``MultiStepLR`` stepped every iteration); here they are derived from the iteration, so a resumed run gets the
   same rates without scheduler state.

An iteration: ``d_steps`` WGAN-GP critic updates on fresh noise (the penalty on per-pixel gradient norms, as the
reference's ``calc_gradient_penalty`` computes it; with ``reuse_fakes``, all on the iteration's one fake, as the
reference), then one generator loss
(adversarial + ``alpha_rec_loss`` * MSE(reconstruction, real)) whose gradient is applied ``g_steps`` times, exactly
as the reference does (``for _ in range(opt.Gsteps): optimizerG.step()``). The reconstruction starts from the
coarsest real image (the reference's ``z_opt = reals[0]`` in generation mode) with zero noise at later stages.

Frozen stages cannot change within a stage, so with ``cache_frozen_stages`` the reconstruction path's features
after them are computed once per stage (not once per iteration) and the reconstruction runs only the trained
stages; same numbers (the generator's batch norm keeps no running statistics that the cache could skip).

``separate_critic_backward`` back-propagates the critic's three loss terms (real scores, fake scores, gradient
penalty) one at a time instead of their sum, so only one term's graph is held at a time: the critic's peak memory
drops from the sum of the three graphs to the largest (the penalty's), the same gradient up to float rounding.

The number of built stages is part of the trainer's state dict, so a checkpoint taken mid-stage resumes into a
generator grown to the same stage with the same optimizer groups.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from ignite.engine import Events
from torch import nn
from torch.optim import Optimizer

from medgan.engines.adversarial_trainer import AdversarialTrainer, unwrap
from medgan.engines.consingan_stages import stage_parameter_groups
from medgan.errors import BadInputError
from medgan.losses import gradient_penalty
from medgan.networks.consingan import ConSinGANGenerator, check_critic_fits

LR_DROP_AT = 0.8  # fraction of a stage's iterations after which the learning rates drop (reference: 0.8 * niter)


def _reset_optimizer(optimizer: Optimizer, groups: list[dict]) -> None:
    """Give ``optimizer`` new parameter groups and fresh state (moments), keeping the same object."""
    optimizer.param_groups.clear()
    optimizer.state = defaultdict(dict)
    for group in groups:
        optimizer.add_param_group(group)
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]


class ConSinGANTrainer(AdversarialTrainer):
    """Train a :class:`ConSinGANGenerator` stage by stage on one image (see module docstring).

    Args:
        device: where the networks live.
        generator: a ConSinGAN generator with one built stage and ``len(reals)`` planned ones.
        discriminator: the patch critic.
        g_optimizer, d_optimizer: Adam optimizers (their groups are replaced at every stage).
        reals: the image pyramid, coarsest first, each (1, C, *stage_shape), on ``device``.
        iterations_per_stage: iterations of each stage (the reference's ``niter``).
        active_scales: stages trained concurrently.
        lr: learning rate of the newest stage and of the discriminator.
        d_lr: the discriminator's learning rate when it differs from ``lr`` (None: ``lr``).
        lr_factor: lr scaling per stage of age.
        gamma_scheduler: lr factor after ``LR_DROP_AT`` of a stage.
        noise_amp: noise amplitude relative to the reconstruction RMSE.
        alpha_rec_loss: weight of the reconstruction loss.
        lambda_grad_penalty: WGAN-GP weight.
        d_steps, g_steps: critic updates and generator steps per iteration.
        batch_size: images generated per iteration (the real image is repeated).
        amp: mixed precision, as in :class:`AdversarialTrainer`.
        wrap_generator: re-wraps the grown generator for DistributedDataParallel at each stage (DDP fixes the
            parameter set when it wraps); None when not distributed.
        train_handlers: ignite/MONAI handlers.
        cache_frozen_stages: compute the reconstruction through the frozen stages once per stage.
        separate_critic_backward: back-propagate the critic's loss terms one at a time (less memory).
        reuse_fakes: one noise draw and one fake per iteration, judged by all ``d_steps`` critic updates and by the
            generator's loss, as the reference (whose critic steps regenerate it from the same noise with the same
            generator); False: new noise and a new fake for every critic update and for the generator.
        channels_last, torch_compile: as in :class:`AdversarialTrainer`.
    """

    def __init__(
        self,
        device: torch.device | str,
        generator: ConSinGANGenerator | nn.Module,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        reals: Sequence[torch.Tensor],
        iterations_per_stage: int,
        active_scales: int = 3,
        lr: float = 5e-4,
        lr_factor: float = 0.1,
        d_lr: float | None = None,
        gamma_scheduler: float = 0.1,
        noise_amp: float = 0.1,
        alpha_rec_loss: float = 10.0,
        lambda_grad_penalty: float = 0.1,
        d_steps: int = 3,
        g_steps: int = 3,
        batch_size: int = 1,
        amp: bool | str | None = None,
        wrap_generator: Callable[[nn.Module], nn.Module] | None = None,
        train_handlers: Sequence | None = None,
        cache_frozen_stages: bool = True,
        separate_critic_backward: bool = False,
        reuse_fakes: bool = False,
        channels_last: bool = False,
        torch_compile: bool = False,
    ) -> None:
        self.reals = list(reals)
        self.batch_size = batch_size
        check_critic_fits([self.reals[0].shape[2:]], getattr(unwrap(discriminator), "margin", 0))
        if not 1 <= active_scales <= len(self.reals):
            raise BadInputError(
                f"active_scales is {active_scales} but there are {len(self.reals)} stages (num_scales); "
                f"set --active_scales between 1 and {len(self.reals)}."
            )
        super().__init__(
            device=device,
            max_epochs=len(self.reals),
            train_data_loader=itertools.repeat(None),
            epoch_length=iterations_per_stage,
            generator=generator,
            discriminator=discriminator,
            g_optimizer=g_optimizer,
            d_optimizer=d_optimizer,
            latent_shape=tuple(self.reals[0].shape[1:]),
            loss="wgan",
            d_steps=d_steps,
            g_steps=g_steps,
            lambda_grad_penalty=lambda_grad_penalty,
            amp=amp,
            prepare_batch=lambda batch, device, non_blocking: self.current_real(),
            channels_last=channels_last,
            torch_compile=torch_compile,
            gradient_norm_over="pixel",  # the reference's calc_gradient_penalty: per-pixel gradient norms
        )
        self.active_scales = active_scales
        self.lr = lr
        self.lr_factor = lr_factor
        self.d_lr = lr if d_lr is None else d_lr
        self.gamma_scheduler = gamma_scheduler
        self.noise_amp = noise_amp
        self.alpha_rec_loss = alpha_rec_loss
        self.wrap_generator = wrap_generator
        self.cache_frozen_stages = cache_frozen_stages
        self.separate_critic_backward = separate_critic_backward
        self.reuse_fakes = reuse_fakes
        self._iteration_fake: torch.Tensor | None = None
        self._frozen_reconstruction: torch.Tensor | None = None
        with torch.no_grad():  # ConSinGAN (generation mode) reconstructs from the coarsest real image itself
            self.network.fixed_noise.copy_(self.reals[0][:1])
        self.state.num_stages = self.network.num_stages
        self.state_dict_user_keys.append("num_stages")
        self.add_event_handler(Events.EPOCH_STARTED, self.start_stage)
        if train_handlers is not None:
            self._register_handlers(train_handlers)

    @property
    def network(self) -> ConSinGANGenerator:
        """The generator itself (unwrapped from DDP)."""
        return unwrap(self.generator)

    @property
    def stage(self) -> int:
        """Index of the stage being trained (0 = coarsest)."""
        return max(self.state.epoch - 1, 0)

    def current_real(self) -> torch.Tensor:
        """The real image at the current stage, repeated to the batch size: (batch_size, C, *stage_shape)."""
        real = self.reals[self.stage]
        return real.expand(self.batch_size, *real.shape[1:])

    # ------------------------------------------------------------------------------------------------------- stages
    def start_stage(self) -> None:
        """Grow the generator to the current stage and set noise amplitude and optimizers (skipped when a run
        resumes in the middle of the stage: its checkpoint already holds them)."""
        if self.network.num_stages == self.stage + 1 and self.state.iteration % self.state.epoch_length != 0:
            return
        if self.network.num_stages < self.stage + 1:
            self.network.add_stage().to(self.state.device)
        self._set_noise_amp()
        self._configure_stage()

    @torch.no_grad()
    def _set_noise_amp(self) -> None:
        stage = self.network.num_stages - 1
        if stage == 0:
            self.network.noise_amps[0] = 1.0  # the reference's value; stage 0's noise is not scaled
            return
        self.network.noise_amps[stage] = 0.0
        rmse = F.mse_loss(self.network.reconstruct(), self.reals[stage]).sqrt()
        self.network.noise_amps[stage] = self.noise_amp * rmse

    def _configure_stage(self) -> None:
        """Parameter groups and fresh optimizer state for the generator's current number of stages."""
        self.state.num_stages = self.network.num_stages
        self._frozen_reconstruction = None
        _reset_optimizer(
            self.g_optimizer, stage_parameter_groups(self.network, self.active_scales, self.lr, self.lr_factor)
        )
        _reset_optimizer(self.d_optimizer, [{"params": list(unwrap(self.discriminator).parameters()), "lr": self.d_lr}])
        if self.wrap_generator is not None:
            self.generator = self.compiled(self.wrap_generator(self.network))

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore ignite's counters and grow the generator to the checkpoint's number of stages, so the
        generator's and optimizers' states that are loaded next fit."""
        super().load_state_dict(state_dict)
        while self.network.num_stages < state_dict["num_stages"]:
            self.network.add_stage().to(self.state.device)
        self._configure_stage()

    def before_iteration(self) -> None:
        """ConSinGAN's learning-rate drop after ``LR_DROP_AT`` of the stage, derived from the iteration; with
        ``reuse_fakes``, the iteration's one fake (with its graph, for the generator's loss)."""
        iteration_in_stage = (self.state.iteration - 1) % self.state.epoch_length
        factor = self.gamma_scheduler if iteration_in_stage >= int(LR_DROP_AT * self.state.epoch_length) else 1.0
        for optimizer in (self.g_optimizer, self.d_optimizer):
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor
        if self.reuse_fakes:
            self.generator.train()
            with self.precision.autocast():
                self._iteration_fake = self.generate(self.sample_latents(self.batch_size))

    def critic_fakes(self, batch_size: int) -> torch.Tensor:
        """The iteration's fake, detached, with ``reuse_fakes`` (the generator does not change during the critic
        steps, so the reference's per-step regeneration from the same noise gives this same image); else new ones."""
        if self._iteration_fake is not None:
            return self._iteration_fake.detach()
        return super().critic_fakes(batch_size)

    # --------------------------------------------------------------------------------------------------- the step
    def generator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = super().generator_loss(real, fake)
        if self.alpha_rec_loss > 0:
            with self.precision.autocast():
                reconstruction = self.reconstruct()
            terms["loss_rec"] = F.mse_loss(reconstruction.float(), real[:1].float())
            terms["loss_g_adv"] = terms["loss_g"]
            terms["loss_g"] = terms["loss_g_adv"] + self.alpha_rec_loss * terms["loss_rec"]
        return terms

    @property
    def num_frozen_stages(self) -> int:
        """Stages before the newest ``active_scales``: frozen for the whole current stage."""
        return max(self.network.num_stages - self.active_scales, 0)

    def reconstruct(self) -> torch.Tensor:
        """The generator's reconstruction (1, C, *finest shape); the frozen stages' part comes from a per-stage cache
        when ``cache_frozen_stages`` is set."""
        frozen = self.num_frozen_stages
        if not self.cache_frozen_stages or frozen == 0:
            return self.network.reconstruct()
        if self._frozen_reconstruction is None:
            with torch.no_grad():
                self._frozen_reconstruction = self.network.reconstruction_features(frozen)
        return self.network.reconstruct(self._frozen_reconstruction, frozen)

    def discriminator_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic update on new fakes; with ``separate_critic_backward`` its terms are back-propagated one by one.

        Every adversarial loss here is a sum of a term of the real scores and one of the fake scores, so the
        gradient of ``loss(real_scores, zeros)`` is the real term's and that of ``loss(zeros, fake_scores)`` the
        fake term's."""
        if not self.separate_critic_backward:
            return super().discriminator_step(real)
        fake = self.critic_fakes(real.shape[0])
        loss, scaler = self.adversarial_loss.discriminator, self.d_scaler
        self.d_optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            real_scores = self.discriminator(real)
        scaler.scale(loss(real_scores, torch.zeros_like(real_scores))).backward()
        with self.precision.autocast():
            fake_scores = self.discriminator(fake)
        scaler.scale(loss(torch.zeros_like(fake_scores), fake_scores)).backward()
        terms = {"loss_d": loss(real_scores.detach(), fake_scores.detach())}
        if self.lambda_grad_penalty > 0:
            penalty = gradient_penalty(unwrap(self.discriminator), real, fake.to(real.dtype), self.gradient_norm_over)
            scaler.scale(self.lambda_grad_penalty * penalty).backward()
            terms = {
                "loss_d": terms["loss_d"] + self.lambda_grad_penalty * penalty.detach(),
                "loss_d_adv": terms["loss_d"],
                "grad_penalty": penalty.detach(),
            }
        scaler.step(self.d_optimizer)
        scaler.update()
        return terms

    def generator_phase(self, real: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One generator loss whose gradient is applied ``g_steps`` times (the reference's ``Gsteps`` loop).

        In float16 the gradient is unscaled once and the steps are skipped when it is not finite."""
        fake = self._iteration_fake
        if fake is None:
            with self.precision.autocast():
                fake = self.generate(self.sample_latents(real.shape[0]))
        self._iteration_fake = None  # its graph is freed by the backward below
        terms = self.generator_loss(real, fake)
        self.g_optimizer.zero_grad(set_to_none=True)
        self.g_scaler.scale(terms["loss_g"]).backward()
        if self.g_scaler.is_enabled():
            self.g_scaler.unscale_(self.g_optimizer)
            grads = [p.grad for group in self.g_optimizer.param_groups for p in group["params"] if p.grad is not None]
            finite = bool(torch.stack([g.isfinite().all() for g in grads]).all())
            self.g_scaler.update()
            if not finite:
                return terms, fake
        for _ in range(self.g_steps):
            self.g_optimizer.step()
        return terms, fake
