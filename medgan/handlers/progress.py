"""A tqdm progress bar for a training run, showing the losses."""

from __future__ import annotations

from collections.abc import Mapping

from ignite.engine import Engine
from ignite.handlers import ProgressBar as IgniteProgressBar


def loss_terms(output: Mapping) -> dict[str, float]:
    """The 0-d loss entries of an iteration output, as floats (for display)."""
    return {k: float(v) for k, v in output.items() if k.startswith("loss") and getattr(v, "ndim", 1) == 0}


class ProgressBar(IgniteProgressBar):
    """ignite's ``ProgressBar`` attached with the iteration's losses on display (rank 0 only).

    ``attach(engine)`` is all MONAI's ``train_handlers`` call, so the losses are wired in here.
    """

    def __init__(self, rank: int = 0, **kwargs) -> None:
        super().__init__(persist=True, **kwargs)
        self.rank = rank

    def attach(self, engine: Engine, *args, **kwargs) -> None:  # type: ignore[override]
        if self.rank == 0:
            super().attach(engine, output_transform=loss_terms)
