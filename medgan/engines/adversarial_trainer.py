"""The one adversarial training step every medgan workflow shares, on ``monai.engines.Trainer``.

An iteration takes a batch of real images and runs ``d_steps`` discriminator updates, each on freshly drawn
latents (MONAI's ``GanTrainer`` reuses one set of fakes for all of them), then ``g_steps`` generator updates.
Workflows change the step by overriding its parts, never by copying it:

- :meth:`sample_latents` / :meth:`generate` — what the generator takes and how it is called;
- :meth:`discriminator_loss` / :meth:`generator_loss` — return a dict of named loss terms whose ``"loss_d"`` /
  ``"loss_g"`` entry is optimised (regularisers, reconstruction losses and lazy regularisation add terms here);
- :meth:`before_iteration` — per-iteration schedules (ConSinGAN's learning-rate drop);
- :meth:`generator_phase` — how the ``g_steps`` generator updates are made (ConSinGAN applies one gradient
  ``g_steps`` times, as its reference does).

An ``augment`` (:mod:`medgan.augment`: ADA, DiffAugment) transforms every image the discriminator sees, reals and
fakes, in the discriminator's and the generator's steps (gradients flow through it to the generator); it is told the
logits on augmented reals and, once per iteration, the global batch size (ADA tunes its strength from them).
Because it is a MONAI ``Trainer``, MONAI and ignite handlers attach as usual. Forward passes run under autocast
when ``amp`` is set; float16 adds one ``GradScaler`` per optimizer. ``channels_last`` stores both networks and the
real batch channels-last; ``torch_compile`` runs both networks through ``torch.compile`` (the gradient penalty's
double backward uses the uncompiled discriminator; checkpoints hold the uncompiled modules' weights, unchanged).
With DistributedDataParallel the network that is not being optimised runs under ``no_sync`` and with
``requires_grad`` off, as in stylegan2-ada-pytorch.
The output of an iteration is ``{"real", "fake", "loss_d", "loss_g", ...}``, losses as detached 0-d tensors (no
host synchronisation in the step; handlers convert them when they log).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from monai.engines import Trainer
from torch import nn
from torch.optim import Optimizer

from medgan.augment import Augmentation, NoAugmentation
from medgan.engines.performance import channels_last, compile_network, fast_cpu_conv3d, to_channels_last
from medgan.engines.precision import Precision, resolve_amp
from medgan.losses import AdversarialLoss, gradient_penalty
from medgan.utils import loss_terms


def unwrap(network: nn.Module) -> nn.Module:
    """The module inside ``torch.compile`` and DistributedDataParallel (or DataParallel) wrappers, else the module."""
    while True:
        if isinstance(network, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            network = network.module
        elif isinstance(network, torch._dynamo.eval_frame.OptimizedModule):
            network = network._orig_mod
        else:
            return network


def uncompiled(network: nn.Module) -> nn.Module:
    """``network`` without its ``torch.compile`` wrapper (a DistributedDataParallel wrapper stays): for the double
    backward of a regulariser (``create_graph=True``), which compiled graphs do not support."""
    return network._orig_mod if isinstance(network, torch._dynamo.eval_frame.OptimizedModule) else network


def no_sync(network: nn.Module) -> contextlib.AbstractContextManager:
    """Skip DDP's gradient all-reduce for a forward whose backward must not update ``network``."""
    while isinstance(network, torch._dynamo.eval_frame.OptimizedModule):
        network = network._orig_mod
    return network.no_sync() if isinstance(network, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()


def images_from_batch(batch: torch.Tensor | Sequence | dict, device: torch.device, non_blocking: bool) -> torch.Tensor:
    """The real images of a data-loader batch: a tensor, the first item of a sequence, or ``batch["image"]``."""
    if isinstance(batch, dict):
        batch = batch["image"]
    elif isinstance(batch, (list, tuple)):
        batch = batch[0]
    return torch.as_tensor(batch).to(device, non_blocking=non_blocking)


class AdversarialTrainer(Trainer):
    """Trains a generator against a discriminator.

    Args:
        device: where the networks and batches live.
        max_epochs: passes over ``train_data_loader``.
        train_data_loader: yields real images (B, C, *spatial), as a tensor, a sequence or ``{"image": ...}``.
        generator: latents -> images; may be wrapped in DistributedDataParallel.
        discriminator: images -> logits of any shape; may be wrapped in DistributedDataParallel.
        g_optimizer, d_optimizer: their optimizers.
        latent_shape: shape of one latent without the batch axis, e.g. ``(100,)``.
        loss: an :class:`AdversarialLoss` or its kind (``"bce"``, ``"hinge"``, ``"wgan"``).
        real_label: the reals' target of the ``"bce"`` loss when ``loss`` is a kind (one-sided label smoothing: 0.9).
        d_steps, g_steps: discriminator and generator updates per iteration.
        lambda_grad_penalty: weight of the WGAN-GP penalty in the discriminator loss (0: off).
        amp: mixed precision: false, true/"bf16", or "fp16" (CUDA only).
        g_lr_scheduler, d_lr_scheduler: optional schedulers stepped once per iteration.
        epoch_length, non_blocking, train_handlers: as in ``monai.engines.Trainer``.
        channels_last: store the networks' 4-D/5-D weights and the real batch channels-last (NHWC / NDHWC).
        torch_compile: run generator and discriminator through ``torch.compile`` (first iterations compile).
        gradient_norm_over: what the gradient penalty's norm is taken over: ``"sample"`` (WGAN-GP) or ``"pixel"``
            (SinGAN/ConSinGAN's reference); see :func:`medgan.losses.gradient_penalty`.
        augment: what transforms the discriminator's inputs (:func:`medgan.augment.build_augmentation`); None:
            nothing. Its strength is in each iteration's output as ``augment_p`` (not when None).
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
        latent_shape: Sequence[int],
        loss: AdversarialLoss | str = "bce",
        real_label: float = 1.0,
        d_steps: int = 1,
        g_steps: int = 1,
        lambda_grad_penalty: float = 0.0,
        amp: bool | str | None = None,
        g_lr_scheduler=None,
        d_lr_scheduler=None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        train_handlers: Sequence | None = None,
        prepare_batch: Callable = images_from_batch,
        channels_last: bool = False,
        torch_compile: bool = False,
        gradient_norm_over: str = "sample",
        augment: Augmentation | None = None,
    ) -> None:
        super().__init__(
            device=torch.device(device),
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            handlers=None,
            amp=False,  # precision is handled here (bf16/fp16 autocast), not by MONAI's fp16-only switch
            decollate=False,
        )
        if d_steps < 1 or g_steps < 1:
            raise ValueError(f"d_steps and g_steps must be at least 1, got {d_steps} and {g_steps}.")
        self.channels_last = channels_last
        self.torch_compile = torch_compile
        if channels_last:
            to_channels_last(unwrap(generator))
            to_channels_last(unwrap(discriminator))
        fast_cpu_conv3d(unwrap(generator))
        fast_cpu_conv3d(unwrap(discriminator))
        self.generator = self.compiled(generator)
        self.discriminator = self.compiled(discriminator)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.latent_shape = tuple(latent_shape)
        self.adversarial_loss = AdversarialLoss(loss, real_label) if isinstance(loss, str) else loss
        self.d_steps = d_steps
        self.g_steps = g_steps
        self.lambda_grad_penalty = lambda_grad_penalty
        self.gradient_norm_over = gradient_norm_over
        self.augment = (augment or NoAugmentation()).to(self.state.device)
        self.precision = Precision(self.state.device, resolve_amp(amp, self.state.device))
        self.g_scaler = self.precision.make_scaler()
        self.d_scaler = self.precision.make_scaler()
        self.g_lr_scheduler = g_lr_scheduler
        self.d_lr_scheduler = d_lr_scheduler
        if train_handlers is not None:
            self._register_handlers(train_handlers)

    def compiled(self, network: nn.Module) -> nn.Module:
        """``network`` through ``torch.compile`` when ``torch_compile`` is set, else ``network`` itself."""
        return compile_network(network, self.state.device) if self.torch_compile else network

    # ----------------------------------------------------------------------------------------- the parts to override
    def sample_latents(self, batch_size: int) -> torch.Tensor:
        """Standard normal latents (batch_size, *latent_shape)."""
        return torch.randn((batch_size, *self.latent_shape), device=self.state.device)

    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        """Images (B, C, *spatial) from latents."""
        return self.generator(latents)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named terms of the discriminator's objective; ``"loss_d"`` is the one minimised."""
        with self.precision.autocast():
            real_logits = self.discriminator(real)
            adversarial = self.adversarial_loss.discriminator(real_logits, self.discriminator(fake))
        self.augment.observe(real_logits)
        if self.lambda_grad_penalty <= 0:
            return {"loss_d": adversarial}
        penalty = gradient_penalty(unwrap(self.discriminator), real, fake.to(real.dtype), self.gradient_norm_over)
        return {
            "loss_d": adversarial + self.lambda_grad_penalty * penalty,
            "loss_d_adv": adversarial,
            "grad_penalty": penalty,
        }

    def generator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named terms of the generator's objective; ``"loss_g"`` is the one minimised."""
        with self.precision.autocast(), no_sync(self.discriminator):
            return {"loss_g": self.adversarial_loss.generator(self.discriminator(fake))}

    def before_iteration(self) -> None:
        """Called at the start of every iteration, before any update."""

    # ----------------------------------------------------------------------------------------------- the step itself
    def _optimise(self, loss: torch.Tensor, optimizer: Optimizer, scaler: torch.amp.GradScaler) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def critic_fakes(self, batch_size: int) -> torch.Tensor:
        """The fakes one discriminator update judges: new ones, made without a graph."""
        with torch.no_grad(), self.precision.autocast():
            return self.generate(self.sample_latents(batch_size))

    def discriminator_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One discriminator update on :meth:`critic_fakes`, reals and fakes augmented; returns its loss terms."""
        fake = self.critic_fakes(real.shape[0])
        terms = self.discriminator_loss(self.augment(real), self.augment(fake))
        self._optimise(terms["loss_d"], self.d_optimizer, self.d_scaler)
        return terms

    def generator_step(self, real: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One generator update (the discriminator judges the fakes augmented); returns its loss terms and the fakes
        it made, as made."""
        with self.precision.autocast():
            fake = self.generate(self.sample_latents(real.shape[0]))
        terms = self.generator_loss(real, self.augment(fake))
        self._optimise(terms["loss_g"], self.g_optimizer, self.g_scaler)
        return terms, fake

    def generator_phase(self, real: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The generator's updates of one iteration: ``g_steps`` full steps; returns the last terms and fakes."""
        for _ in range(self.g_steps):
            terms, fake = self.generator_step(real)
        return terms, fake

    def _iteration(self, engine: AdversarialTrainer, batchdata) -> dict[str, torch.Tensor]:
        real = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking)
        if self.channels_last:
            real = channels_last(real)
        self.before_iteration()
        self.generator.train()
        self.discriminator.train()
        for _ in range(self.d_steps):
            d_terms = self.discriminator_step(real)
        self.discriminator.requires_grad_(False)  # the generator's backward needs no critic gradients
        g_terms, fake = self.generator_phase(real)
        self.discriminator.requires_grad_(True)

        for scheduler in (self.g_lr_scheduler, self.d_lr_scheduler):
            if scheduler is not None:
                scheduler.step()
        world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.augment.step(real.shape[0] * world_size)
        output = {"real": real, "fake": fake.detach()}
        if not isinstance(self.augment, NoAugmentation):
            output["augment_p"] = self.augment.p.detach().clone()
        output.update({name: value.detach() for name, value in {**d_terms, **g_terms}.items()})
        output["loss"] = loss_terms(output)  # every term under MONAI's key, which --tracking mlflow logs
        return output
