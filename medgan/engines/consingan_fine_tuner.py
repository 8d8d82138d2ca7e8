"""ConSinGAN's fine-tuning of a trained generator on a naive image, for harmonisation and editing.

Hinz et al. 2021 (arXiv:2003.11512), Sec. 4 and reference code tohinz/ConSinGAN ``main_train.py --fine_tune``
(``training_harmonization_editing.py``): after training, the finest stage is trained further for a few hundred
iterations with the **naive image** (the pasted-together image to harmonise, or the edited one) in place of the
coarsest noise, so the generator learns to turn that particular image into one with the training image's patch
statistics. Everything else is the finest stage's training as before: the trained critic, the newest
``active_scales`` stages at their learning rates with fresh Adam moments, ``d_steps`` WGAN-GP critic updates, the
adversarial loss plus ``alpha_rec_loss`` times the reconstruction loss (of the training image, from the model's own
reconstruction input), the learning-rate drop after 80 % of the iterations, and the trained noise amplitudes.

An iteration's fake is the generator's harmonisation path (:meth:`ConSinGANGenerator.forward` on the naive image
at the coarsest stage, random noise at the later ones: what ``generate(start_image=..., start_stage=1)`` gives);
for editing, N(0, ``edit_noise``^2) is added to the naive image at every iteration, as the reference's
``noise_scaling`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.optim import Optimizer

from medgan.engines.consingan_trainer import ConSinGANTrainer
from medgan.errors import BadInputError
from medgan.networks.consingan import ConSinGANGenerator


class ConSinGANFineTuner(ConSinGANTrainer):
    """Train a trained :class:`ConSinGANGenerator`'s finest stage(s) on ``naive_image`` (see module docstring).

    One ignite epoch of ``iterations`` iterations; the generator is not grown and its noise amplitudes are kept.

    Args:
        generator: a trained generator, all its stages built.
        discriminator: the critic of the same training run, with its trained weights.
        g_optimizer, d_optimizer: Adam optimizers (their groups and moments are set here).
        reals: the training image's pyramid, coarsest first, each (1, C, *stage_shape); ``reals[0]`` is replaced by
            the generator's own reconstruction input (``fixed_noise``).
        naive_image: (1, C, *stage_shapes[0]) in [-1, 1], the naive image resized to the coarsest stage.
        iterations: fine-tuning iterations (the reference's ``--niter`` of a fine-tuning run).
        edit_noise: standard deviation of the noise added to ``naive_image`` at every iteration (editing: 0.1).
        **settings: the training run's recipe, as :class:`ConSinGANTrainer` takes it (``active_scales``, ``lr``,
            ``d_lr``, ``lr_factor``, ``gamma_scheduler``, ``alpha_rec_loss``, ``lambda_grad_penalty``, ``d_steps``,
            ``g_steps``, ``amp``, ``reuse_fakes``, ``train_handlers``, ...).
    """

    def __init__(
        self,
        device: torch.device | str,
        generator: ConSinGANGenerator,
        discriminator: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        reals: Sequence[torch.Tensor],
        naive_image: torch.Tensor,
        iterations: int,
        edit_noise: float = 0.0,
        **settings,
    ) -> None:
        if generator.num_stages != len(reals):
            raise BadInputError(
                f"The generator has {generator.num_stages} stages but the training image's pyramid {len(reals)}; "
                "fine-tune a model with the checkpoint of the run that trained it."
            )
        expected = [1, generator.out_channels, *generator.stage_shapes[0].tolist()]
        if list(naive_image.shape) != expected:
            raise BadInputError(f"naive_image has shape {tuple(naive_image.shape)}; pass {tuple(expected)}.")
        reals = [generator.fixed_noise.detach().clone(), *reals[1:]]
        super().__init__(
            device, generator, discriminator, g_optimizer, d_optimizer, reals, iterations, batch_size=1, **settings
        )
        self.state.max_epochs = 1
        self.naive_image = naive_image.to(self.state.device)
        self.edit_noise = float(edit_noise)

    @property
    def stage(self) -> int:
        """The finest stage, trained throughout."""
        return self.network.num_stages - 1

    def start_stage(self) -> None:
        """Parameter groups and fresh optimizer moments for the finest stage (nothing grows; noise amplitudes are
        the trained ones, as the reference loads ``noise_amp.pth``)."""
        self._configure_stage()

    def sample_latents(self, batch_size: int) -> torch.Tensor:
        """The naive image in place of the coarsest noise, plus N(0, ``edit_noise``^2) when editing:
        (batch_size, C, *stage_shapes[0])."""
        latents = self.naive_image.expand(batch_size, *self.naive_image.shape[1:])
        if self.edit_noise:
            latents = latents + self.edit_noise * torch.randn_like(latents)
        return latents
