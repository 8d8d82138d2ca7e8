"""Exponential moving average of the generator's weights (Karras et al. 2018, section A.1; Yazici et al. 2019).

The decay is either a fixed ``beta`` per iteration (PGGAN) or, as in StyleGAN2 (stylegan2-ada-pytorch's
``training_loop``), set by a half-life in thousands of images with an optional ramp-up: after ``n`` images the
half-life is ``min(half_life_kimg * 1000, ramp * n)`` images and ``beta = 0.5 ** (images_per_iteration /
half-life)``, so early on (when the generator changes fast) the average follows it closely.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from ignite.engine import Engine, Events
from torch import nn


class GeneratorEMA:
    """Keep ``module`` = EMA of ``generator``: p_ema <- beta * p_ema + (1 - beta) * p after every iteration.

    Buffers (batch-norm statistics, stage shapes, noise amplitudes, StyleGAN's ``w_avg``) are copied, not averaged.
    Sample from ``ema.module``; it is saved in the checkpoint through ``state_dict``.

    Args:
        generator: the trained generator (unwrapped from DDP).
        beta: decay per iteration, e.g. 0.999 as in PGGAN; unused when ``half_life_kimg`` is set.
        half_life_kimg: half-life of the average in thousands of images (StyleGAN2: 10); the decay then follows
            from the engine's iteration count (see :meth:`beta_at`), so a resumed run continues it exactly.
        ramp: ramp-up factor, the half-life is at most ``ramp`` times the images seen so far (StyleGAN2's
            ``auto`` config: 0.05); None for none.
        images_per_iteration: images per iteration over all processes (batch size x world size).
    """

    def __init__(
        self,
        generator: nn.Module,
        beta: float = 0.999,
        half_life_kimg: float | None = None,
        ramp: float | None = None,
        images_per_iteration: int = 1,
    ) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"EMA beta must be in [0, 1), got {beta}.")
        if half_life_kimg is not None and half_life_kimg < 0:
            raise ValueError(f"EMA half-life must be >= 0 kimg, got {half_life_kimg}.")
        self.generator = generator
        self.beta = beta
        self.half_life_kimg = half_life_kimg
        self.ramp = ramp
        self.images_per_iteration = images_per_iteration
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    def beta_at(self, iteration: int) -> float:
        """The decay of the update that ends ``iteration`` (1-based): the fixed ``beta``, or, with a half-life,
        ``0.5 ** (images_per_iteration / max(half_life_images, 1e-8))`` where the images seen before this
        iteration, ``(iteration - 1) * images_per_iteration``, cap the half-life through ``ramp``."""
        if self.half_life_kimg is None:
            return self.beta
        half_life = self.half_life_kimg * 1000.0
        if self.ramp is not None:
            half_life = min(half_life, (iteration - 1) * self.images_per_iteration * self.ramp)
        return 0.5 ** (self.images_per_iteration / max(half_life, 1e-8))

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.update)

    @torch.no_grad()
    def update(self, engine: Engine | None = None) -> None:
        if engine is None and self.half_life_kimg is not None:
            raise ValueError("An EMA with a half-life needs the engine (its iteration count) to update.")
        beta = self.beta if engine is None else self.beta_at(engine.state.iteration)
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in self.generator.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
        for ema_buffer, buffer in zip(self.module.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        self.module.load_state_dict(state)
