"""The progressive workflow: alphas and batches per iteration, fade of the reals, optimizer resets, and a run
resumed from a checkpoint taken mid-fade that ends bit-identical to the uninterrupted run."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ignite.engine import Events
from PIL import Image

from medgan.data.progressive import fade_reals, load_progressive_images, stage_pyramid
from medgan.engines import ProgressiveSchedule, ProgressiveTrainer, StyleGANTrainer
from medgan.errors import BadInputError
from medgan.handlers import GeneratorEMA, ResumableCheckpoint, RunSettings
from medgan.networks import PGGANDiscriminator, PGGANGenerator, StyleGANGenerator

LATENT = 8
WIDTHS = {"max_channels": 4, "channel_halving_resolution": 8}
SCHEDULE = ([4, 8, 16], [8, 16, 16], [4, 2, 2])  # iterations per stage 2, 8, 8; fades over 4 iterations
MID_FADE = 6  # the 4th iteration of stage 1: alpha 0.75


def make_trainer(kind: str, ckpt_dir: Path | None = None, init_seed: int = 0):
    """A tiny trainer (data order seed 0) whose networks are initialised from ``init_seed``."""
    images = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.manual_seed(init_seed)
    if kind == "pggan":
        generator, cls = PGGANGenerator(2, 3, latent_size=LATENT, **WIDTHS), ProgressiveTrainer
    else:
        generator = StyleGANGenerator(2, 3, latent_size=LATENT, w_dim=LATENT, **WIDTHS)
        cls = StyleGANTrainer
        with torch.no_grad():  # noise in play, so the random stream matters
            for name, parameter in generator.named_parameters():
                if name.endswith("noise.strength"):
                    parameter.fill_(0.1)
    critic = PGGANDiscriminator(2, 3, **WIDTHS)
    optimizers = [torch.optim.Adam(n.parameters(), 1e-3, betas=(0.0, 0.99)) for n in (generator, critic)]
    ema = GeneratorEMA(generator)
    handlers = [ema]
    if ckpt_dir is not None:
        save = {"generator": generator, "discriminator": critic, "generator_ema": ema}
        save.update(g_optimizer=optimizers[0], d_optimizer=optimizers[1])
        handlers.append(ResumableCheckpoint(str(ckpt_dir), save, RunSettings(kind, {}), save_every_iterations=MID_FADE))
    trainer = cls(
        "cpu", images, generator, critic, *optimizers, LATENT, ProgressiveSchedule(*SCHEDULE), seed=0,
        train_handlers=handlers,
    )  # fmt: skip
    record = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED,
        lambda e: record.append((e.state.iteration, e.state.output["resolution"], e.state.output["alpha"])),
    )
    return trainer, record, ema


def final_state(trainer, ema) -> dict[str, torch.Tensor]:
    return {
        **{f"g.{k}": v for k, v in trainer.generator.state_dict().items()},
        **{f"d.{k}": v for k, v in trainer.discriminator.state_dict().items()},
        **{f"ema.{k}": v for k, v in ema.module.state_dict().items()},
    }


@pytest.mark.parametrize("kind", ["pggan", "stylegan"])
def test_resume_mid_fade_reproduces_the_uninterrupted_run(kind, tmp_path):
    uninterrupted, full_record, full_ema = make_trainer(kind)
    uninterrupted.run()

    interrupted, first_record, _ = make_trainer(kind, tmp_path)
    interrupted.add_event_handler(Events.ITERATION_COMPLETED(once=MID_FADE), lambda e: e.terminate())
    interrupted.run()
    assert first_record[-1] == (MID_FADE, 8, 0.75), "the interruption is not in the middle of a fade"
    resumed, second_record, resumed_ema = make_trainer(kind, tmp_path, init_seed=123)  # other initial weights
    resumed.run()

    assert first_record + second_record == full_record
    assert [alpha for _, resolution, alpha in full_record if resolution == 8] == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1]
    expected, actual = final_state(uninterrupted, full_ema), final_state(resumed, resumed_ema)
    assert expected.keys() == actual.keys()
    assert [name for name in expected if not torch.equal(expected[name], actual[name])] == []
    assert int(resumed_ema.module.stage) == 2 and float(resumed_ema.module.alpha) == 1.0


def test_networks_and_reals_follow_the_schedule():
    trainer, _, _ = make_trainer("pggan")
    seen = []

    def check(engine):
        progress = engine.progress
        real = engine.state.output["real"]
        assert real.shape == (SCHEDULE[2][progress.stage], 1) + (SCHEDULE[0][progress.stage],) * 2
        assert int(engine.generator.stage) == int(engine.discriminator.stage) == progress.stage
        assert float(engine.generator.alpha) == float(engine.discriminator.alpha) == progress.alpha
        seen.append(engine.state.output["images_seen"])

    trainer.add_event_handler(Events.ITERATION_COMPLETED, check)
    trainer.run()
    assert seen == list(range(4, 9, 4)) + list(range(10, 25, 2)) + list(range(26, 41, 2))


def test_optimizer_moments_reset_when_a_stage_starts_and_when_its_fade_ends():
    trainer, _, _ = make_trainer("pggan")
    steps = []
    dense = trainer.generator.blocks[0][0].dense.weight  # trained at every stage

    def record(engine):
        steps.append(int(engine.g_optimizer.state[dense]["step"]))

    trainer.add_event_handler(Events.ITERATION_COMPLETED, record)
    trainer.run()
    # stage 0: iterations 1-2; stage 1 (3-10) starts fresh and again when its fade ends (7); stage 2 at 11 and 15
    assert steps == [1, 2] + [1, 2, 3, 4] * 4


def test_reals_fade_like_the_generator():
    images = torch.randn(2, 1, 8, 8)
    low, high = stage_pyramid(images, 2)
    assert low.shape == (2, 1, 4, 4)
    torch.testing.assert_close(low, F.avg_pool2d(images, 2))
    torch.testing.assert_close(fade_reals(high, low, 0.0), F.interpolate(low, scale_factor=2.0, mode="nearest"))
    torch.testing.assert_close(fade_reals(high, low, 1.0), high)


def test_data_too_small_or_too_few_is_refused(tmp_path):
    array = (np.linspace(0, 255, 30 * 24).reshape(30, 24)).astype(np.uint8)
    Image.fromarray(array).save(tmp_path / "small.png")
    assert load_progressive_images(tmp_path, 2, 32).shape == (1, 1, 32, 32)
    with pytest.raises(BadInputError, match="at most 30 px per side, too small for image_size 64"):
        load_progressive_images(tmp_path, 2, 64)
    with pytest.raises(BadInputError, match="has 1 images, fewer than the batch size 2"):
        load_progressive_images(tmp_path, 2, 32, min_images=2)
