"""Each training family learns a trivially learnable target in a few seconds: every real image is the same left-right
ramp, so a generator that learns draws samples close to it. The distance is measured on a fixed set of latents
before and after training; an untrained or broken step (wrong sign, optimizer not stepping, frozen network) leaves it
where it was. ConSinGAN is measured by its own target, the reconstruction of the image from the fixed noise.
"""

from __future__ import annotations

import torch
from ignite.engine import Events
from torch.utils.data import DataLoader, TensorDataset

from medgan.bundle import make_train_loader
from medgan.data.pyramid import consingan_stage_shapes, image_pyramid
from medgan.engines import (
    AdversarialTrainer,
    ConSinGANTrainer,
    ProgressiveSchedule,
    ProgressiveTrainer,
    StyleGAN2Trainer,
)
from medgan.losses import lazy_regularization_adam
from medgan.networks import (
    ConSinGANDiscriminator,
    ConSinGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    PGGANDiscriminator,
    PGGANGenerator,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
)

LATENT = 8
IMPROVEMENT = 2.5  # the distance must fall at least this many times (measured: 3.8x DCGAN, 6.4x StyleGAN2, 3.9x PGGAN)


def ramp(height: int, width: int) -> torch.Tensor:
    """(1, H, W): -0.8 at the left edge to 0.8 at the right, the same on every row."""
    return torch.linspace(-0.8, 0.8, width)[None, :].expand(height, width)[None].clone()


def distance_to_target(generator: torch.nn.Module, target: torch.Tensor, num_samples: int = 32) -> float:
    """Mean absolute difference between the samples of fixed latents and ``target`` (eval mode, no gradients)."""
    generator.eval()
    with torch.no_grad():
        images = generator(torch.randn(num_samples, LATENT, generator=torch.Generator().manual_seed(5)))
    generator.train()
    return float((images - target).abs().mean())


def test_dcgan_learns_a_constant_image():
    torch.manual_seed(0)
    target = ramp(64, 64)
    loader = DataLoader(TensorDataset(target.expand(16, 1, 64, 64).clone()), batch_size=8, shuffle=True, drop_last=True)
    generator = DCGANGenerator(2, 64, latent_size=LATENT, num_features=4)
    critic = DCGANDiscriminator(2, 64, num_features=4)
    optimizers = [torch.optim.Adam(n.parameters(), 2e-3, betas=(0.5, 0.999)) for n in (generator, critic)]
    trainer = AdversarialTrainer("cpu", 100, loader, generator, critic, *optimizers, latent_shape=(LATENT,))
    before = distance_to_target(generator, target)
    trainer.run()
    assert distance_to_target(generator, target) < before / IMPROVEMENT


def test_stylegan2_learns_a_constant_image():
    torch.manual_seed(0)
    target = ramp(8, 8)
    generator = StyleGAN2Generator(
        2, [8, 8], latent_size=LATENT, w_dim=LATENT, mapping_layers=2, max_channels=8, channel_halving_resolution=16
    )
    critic = StyleGAN2Discriminator(2, [8, 8], max_channels=8, channel_halving_resolution=16)
    g_optimizer = lazy_regularization_adam(generator.parameters(), 0.01, (0.0, 0.99), 4)
    d_optimizer = lazy_regularization_adam(critic.parameters(), 0.01, (0.0, 0.99), 16)
    loader = make_train_loader(target.expand(8, 1, 8, 8).clone(), 4)
    trainer = StyleGAN2Trainer("cpu", 60, loader, generator, critic, g_optimizer, d_optimizer, r1_gamma=0.1)
    before = distance_to_target(generator, target)
    trainer.run()
    assert distance_to_target(generator, target) < before / IMPROVEMENT


def test_progressive_gan_learns_a_constant_image_through_a_fade_in():
    torch.manual_seed(0)
    target = ramp(8, 8)
    widths = {"max_channels": 8, "channel_halving_resolution": 8}
    generator, critic = PGGANGenerator(2, 2, latent_size=LATENT, **widths), PGGANDiscriminator(2, 2, **widths)
    optimizers = [torch.optim.Adam(n.parameters(), 3e-3, betas=(0.0, 0.99)) for n in (generator, critic)]
    schedule = ProgressiveSchedule([4, 8], [400, 400], [4, 4])  # 100 iterations at 4 px, 100 fading in and at 8 px
    trainer = ProgressiveTrainer("cpu", target.expand(8, 1, 8, 8).clone(), generator, critic, *optimizers, LATENT,
                                 schedule)  # fmt: skip
    before = distance_to_target(generator, target)
    trainer.run()
    assert int(generator.stage) == 1 and float(generator.alpha) == 1.0
    assert distance_to_target(generator, target) < before / IMPROVEMENT


def test_consingan_learns_to_reconstruct_its_image():
    torch.manual_seed(0)
    image = ramp(20, 24)[None]
    shapes = consingan_stage_shapes(image.shape[2:], 2, max_size=24, min_size=12)
    generator = ConSinGANGenerator(2, shapes, num_features=8, num_layers=3)
    critic = ConSinGANDiscriminator(2, num_features=8, num_layers=3)
    optimizers = [torch.optim.Adam(n.parameters(), 5e-3, betas=(0.5, 0.999)) for n in (generator, critic)]
    trainer = ConSinGANTrainer(device="cpu", generator=generator, discriminator=critic, g_optimizer=optimizers[0],
                               d_optimizer=optimizers[1], reals=image_pyramid(image, shapes), iterations_per_stage=60,
                               active_scales=2, lr=5e-3, lr_factor=0.1, d_steps=1, g_steps=1)  # fmt: skip
    reconstruction_errors = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: reconstruction_errors.append(float(e.state.output["loss_rec"]))
    )
    trainer.run()
    first_stage, second_stage = reconstruction_errors[:60], reconstruction_errors[60:]
    assert first_stage[-1] < first_stage[0] / 10  # measured 25x
    assert second_stage[-1] < second_stage[0] / 3  # measured 4.9x
