"""Exponential moving average of the generator's weights (Karras et al. 2018, section A.1; Yazici et al. 2019)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from ignite.engine import Engine, Events
from torch import nn


class GeneratorEMA:
    """Keep ``module`` = EMA of ``generator``: p_ema <- beta * p_ema + (1 - beta) * p after every iteration.

    Buffers (batch-norm statistics, stage shapes, noise amplitudes) are copied, not averaged. Sample from
    ``ema.module``; it is saved in the checkpoint through ``state_dict``.

    Args:
        generator: the trained generator (unwrapped from DDP).
        beta: decay per iteration, e.g. 0.999 as in PGGAN.
    """

    def __init__(self, generator: nn.Module, beta: float = 0.999) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"EMA beta must be in [0, 1), got {beta}.")
        self.generator = generator
        self.beta = beta
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.update)

    @torch.no_grad()
    def update(self, engine: Engine | None = None) -> None:
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in self.generator.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.beta)
        for ema_buffer, buffer in zip(self.module.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        self.module.load_state_dict(state)
