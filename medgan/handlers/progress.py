"""A tqdm progress bar for a training run, showing the losses (and, for progressive runs, where growing stands)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ignite.engine import Engine
from ignite.handlers import ProgressBar as IgniteProgressBar

from medgan.utils import loss_terms


def progressive_status(output: Mapping) -> dict[str, float | str]:
    """The losses plus a progressive run's ``resolution``, fade-in ``alpha`` and real images seen, for display."""
    return {
        **loss_terms(output),
        "res": int(output["resolution"]),
        "alpha": round(float(output["alpha"]), 3),
        "images": str(int(output["images_seen"])),  # a string: tqdm would print 30000 as 3e+4
    }


class ProgressBar(IgniteProgressBar):
    """ignite's ``ProgressBar`` attached with the iteration's losses on display (rank 0 only).

    ``attach(engine)`` is all MONAI's ``train_handlers`` call, so the losses are wired in here;
    ``output_transform`` chooses what else is shown (e.g. :func:`progressive_status`).
    """

    def __init__(self, rank: int = 0, output_transform: Callable[[Mapping], dict] = loss_terms, **kwargs) -> None:
        super().__init__(persist=True, **kwargs)
        self.rank = rank
        self.output_transform = output_transform

    def attach(self, engine: Engine, *args, **kwargs) -> None:  # type: ignore[override]
        if self.rank == 0:
            super().attach(engine, output_transform=self.output_transform)


def every_iterations(interval: int) -> Callable[[Engine, int], bool]:
    """An ignite event filter true on every ``interval``-th iteration, for MONAI's ``StatsHandler(iteration_log=)``
    (which takes a bool or such a filter), so the log gets the loss terms as often as ``losses.csv``."""
    if interval < 1:
        raise ValueError(f"interval must be at least 1, got {interval}")
    return lambda engine, iteration: iteration % interval == 0
