"""StyleGAN2Trainer: the lazy regularisation schedule, style mixing, and a resumed run equal to an uninterrupted
one (weights, EMA, optimizer state, path-length mean), with R1 and path length falling on both sides of the cut."""

from __future__ import annotations

import torch

from medgan.augment import Augmentation
from medgan.bundle import make_train_loader
from medgan.engines import StyleGAN2Trainer
from medgan.handlers import GeneratorEMA, ResumableCheckpoint, RunSettings
from medgan.losses import PathLengthPenalty, R1Penalty, lazy_regularization_adam
from medgan.networks import StyleGAN2Discriminator, StyleGAN2Generator

NUM_IMAGES, BATCH = 8, 4  # 2 iterations per epoch


def make_run(max_epochs: int, ckpt_dir=None, r1_interval: int = 3, pl_interval: int = 2, seed: int = 0, augment=None):
    torch.manual_seed(seed)
    images = torch.rand(NUM_IMAGES, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    generator = StyleGAN2Generator(
        2, [8, 8], latent_size=8, w_dim=8, mapping_layers=2, max_channels=8, channel_halving_resolution=16
    )
    discriminator = StyleGAN2Discriminator(2, [8, 8], max_channels=8, channel_halving_resolution=16)
    g_optimizer = lazy_regularization_adam(generator.parameters(), 0.002, (0.0, 0.99), pl_interval)
    d_optimizer = lazy_regularization_adam(discriminator.parameters(), 0.002, (0.0, 0.99), r1_interval)
    ema = GeneratorEMA(generator, half_life_kimg=0.01, ramp=0.05, images_per_iteration=BATCH)
    r1, path_length = R1Penalty(), PathLengthPenalty()
    handlers = [ema]
    if ckpt_dir is not None:
        save = {
            "generator": generator,
            "discriminator": discriminator,
            "g_optimizer": g_optimizer,
            "d_optimizer": d_optimizer,
            "ema": ema,
            "r1_penalty": r1,
            "path_length": path_length,
        }
        handlers.append(ResumableCheckpoint(str(ckpt_dir), save, RunSettings("stylegan2", {}), save_every=1))
    trainer = StyleGAN2Trainer(
        "cpu",
        max_epochs,
        make_train_loader(images, BATCH, seed=seed),
        generator,
        discriminator,
        g_optimizer,
        d_optimizer,
        r1_gamma=1.0,
        r1_interval=r1_interval,
        pl_interval=pl_interval,
        r1_penalty=r1,
        path_length=path_length,
        train_handlers=handlers,
        augment=augment,
    )
    return trainer, ema


def state(trainer: StyleGAN2Trainer, ema: GeneratorEMA) -> dict[str, torch.Tensor]:
    tensors = {f"g.{k}": v for k, v in trainer.generator.state_dict().items()}
    tensors.update({f"d.{k}": v for k, v in trainer.discriminator.state_dict().items()})
    tensors.update({f"ema.{k}": v for k, v in ema.module.state_dict().items()})
    tensors["pl_mean"] = trainer.path_length.pl_mean
    for name, optimizer in (("g_opt", trainer.g_optimizer), ("d_opt", trainer.d_optimizer)):
        for index, value in optimizer.state_dict()["state"].items():
            tensors.update({f"{name}.{index}.{k}": v for k, v in value.items() if torch.is_tensor(v)})
    return tensors


def test_lazy_regularisers_run_on_their_interval():
    trainer, _ = make_run(max_epochs=3)  # 6 iterations
    calls = {"r1": [], "pl": []}
    r1_step, pl_step = trainer.r1_step, trainer.path_length_step
    trainer.r1_step = lambda real: (calls["r1"].append(trainer.state.iteration), r1_step(real))
    trainer.path_length_step = lambda n: (calls["pl"].append(trainer.state.iteration), pl_step(n))
    trainer.run()
    assert calls == {"r1": [1, 4], "pl": [1, 3, 5]}
    output = trainer.state.output
    assert {"loss_d", "loss_g", "r1_penalty", "pl_penalty"} <= output.keys()
    assert float(output["pl_penalty"]) > 0 and float(output["r1_penalty"]) > 0
    assert float(trainer.path_length.pl_mean) > 0


def test_style_mixing_mixes_with_its_probability():
    trainer, _ = make_run(max_epochs=1)
    trainer.style_mixing_prob = 1.0
    z = torch.randn(2, 8)
    generator = trainer.generator
    torch.manual_seed(3)
    ws = trainer.map_latents(z)
    plain = generator.map(z)
    mixed_layers = [not torch.allclose(ws[:, i], plain[:, i]) for i in range(generator.num_ws)]
    assert not mixed_layers[0] and mixed_layers[-1]  # a cutoff in 1 .. num_ws - 1
    trainer.style_mixing_prob = 0.0
    torch.testing.assert_close(trainer.map_latents(z), generator.map(z))


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    uninterrupted, uninterrupted_ema = make_run(max_epochs=4)
    uninterrupted.run()

    first, _ = make_run(max_epochs=2, ckpt_dir=tmp_path)  # stops after iteration 4: R1 at 1, 4; PL at 1, 3
    first.run()
    resumed, resumed_ema = make_run(max_epochs=4, ckpt_dir=tmp_path, seed=123)  # other initial weights and RNG
    resumed.run()  # resumes: R1 at 7, PL at 5, 7

    expected, actual = state(uninterrupted, uninterrupted_ema), state(resumed, resumed_ema)
    assert expected.keys() == actual.keys()
    different = [name for name in expected if not torch.equal(expected[name], actual[name])]
    assert different == []


class Doubling(Augmentation):
    """A deterministic augmentation, x -> 2x, whose Jacobian is 2 I."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images * 2


def test_r1_is_taken_through_the_augmentation():
    # grad_x D(2x) = 2 (grad D)(2x): the reference's penalty is 4x the one taken at the augmented reals
    trainer, _ = make_run(max_epochs=1, augment=Doubling())
    real = torch.rand(BATCH, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 2 - 1
    at_augmented, _ = R1Penalty()(trainer.discriminator, real * 2)
    trainer.r1_step(real)
    torch.testing.assert_close(trainer.r1_penalty.last, 4 * at_augmented.mean())
