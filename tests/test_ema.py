"""Generator EMA with StyleGAN2's half-life in thousands of images and ramp-up (``medgan.handlers.GeneratorEMA``);
the fixed-beta form is tested in test_adversarial_trainer.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from medgan.handlers import GeneratorEMA


def engine_at(iteration: int) -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(iteration=iteration))


def test_half_life_arithmetic():
    """After half_life_kimg * 1000 images, at any batch size, the old average weighs one half."""
    for batch in (4, 40, 100):
        ema = GeneratorEMA(torch.nn.Linear(1, 1), half_life_kimg=10.0, images_per_iteration=batch)
        assert ema.beta_at(1) ** (10_000 // batch) == pytest.approx(0.5)
    ema = GeneratorEMA(torch.nn.Linear(1, 1), half_life_kimg=10.0, images_per_iteration=32)
    assert ema.beta_at(1) == pytest.approx(0.5 ** (32 / 10_000))


def test_ramp_up_shortens_the_half_life_early():
    ema = GeneratorEMA(torch.nn.Linear(1, 1), half_life_kimg=10.0, ramp=0.05, images_per_iteration=32)
    assert ema.beta_at(1) == 0.0  # no images seen yet: the average is the generator
    assert ema.beta_at(11) == pytest.approx(0.5 ** (32 / (10 * 32 * 0.05)))
    assert ema.beta_at(100_000) == pytest.approx(0.5 ** (32 / 10_000))  # ramp over: the full half-life


def test_update_uses_the_engine_iteration():
    generator = torch.nn.Linear(2, 1)
    ema = GeneratorEMA(generator, half_life_kimg=0.001, images_per_iteration=1)  # beta = 0.5 ** (1 / 1) = 0.5
    before = [p.clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(1.0)
    ema.update(engine_at(3))
    for old, new, current in zip(before, ema.module.parameters(), generator.parameters()):
        torch.testing.assert_close(new, 0.5 * old + 0.5 * current)
    with pytest.raises(ValueError, match="needs the engine"):
        ema.update()
