"""The loss curves of a run: kept across resumes, written as a CSV and a PNG plot."""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from ignite.engine import Engine, Events  # noqa: E402

from medgan.errors import BadInputError  # noqa: E402
from medgan.utils import loss_terms  # noqa: E402


class LossPlotter:
    """Record the scalar loss terms of the iteration output every ``log_every`` iterations; plot them per epoch, at
    most once every ``min_plot_seconds``.

    Writes ``<output_dir>/losses.csv`` (iteration and one column per term) and ``<output_dir>/loss.png``
    (one panel per term). Its history is part of the checkpoint (``state_dict``), so a resumed run's plot
    continues the interrupted one's.

    Args:
        output_dir: folder of the files.
        log_every: iterations between recorded points (each one reads the losses to the host once).
        plot_every: epochs between plots.
        min_plot_seconds: an epoch's plot is skipped when the last one was written less than this long ago. A plot
            takes 0.2-0.6 s on a CPU, and a small data set's epoch can be two iterations (40 slices in batches of
            16): plotting every epoch took 31 % of such a StyleGAN2 run (benchmarks/README.md). The first epoch
            and the end of the run (also a terminated one: ignite completes it) always write. 0: every epoch.
        keys: the output entries to record; default every 0-d tensor entry whose name starts with ``loss`` or
            ends with ``penalty``.
        rank: only rank 0 records and writes.
    """

    def __init__(
        self,
        output_dir: str,
        log_every: int = 1,
        plot_every: int = 1,
        min_plot_seconds: float = 30.0,
        keys: list[str] | None = None,
        rank: int = 0,
    ) -> None:
        if isinstance(min_plot_seconds, bool) or not isinstance(min_plot_seconds, (int, float)) or min_plot_seconds < 0:
            raise BadInputError(
                f"--loss_plotter#min_plot_seconds is a number of seconds from 0, not {min_plot_seconds!r}; "
                "pass e.g. --loss_plotter#min_plot_seconds 30."
            )
        self.output_dir = Path(output_dir)
        self.log_every = log_every
        self.plot_every = plot_every
        self.min_plot_seconds = min_plot_seconds
        self.keys = keys
        self.rank = rank
        self.history: dict[str, list[float]] = {"iteration": []}
        self._last_plot: float | None = None  # time.monotonic() of the last write

    def attach(self, engine: Engine) -> None:
        if self.rank == 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.log_every), self.record)
            engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.plot_every), self.write_when_due)
            engine.add_event_handler(Events.COMPLETED, self.write)

    def write_when_due(self, engine: Engine | None = None) -> None:
        """:meth:`write`, unless the last write was less than ``min_plot_seconds`` ago."""
        if self._last_plot is None or time.monotonic() - self._last_plot >= self.min_plot_seconds:
            self.write(engine)

    def _terms(self, output: Mapping) -> dict[str, float]:
        if self.keys:
            return {name: float(output[name]) for name in self.keys}
        return loss_terms(output)

    def record(self, engine: Engine) -> None:
        terms = self._terms(engine.state.output)
        self.history["iteration"].append(engine.state.iteration)
        for name, value in terms.items():
            self.history.setdefault(name, []).append(value)

    def write(self, engine: Engine | None = None) -> None:
        names = [k for k in self.history if k != "iteration" and len(self.history[k]) == len(self.history["iteration"])]
        if not names:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output_dir / "losses.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["iteration", *names])
            writer.writerows(zip(self.history["iteration"], *(self.history[n] for n in names)))
        fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True, squeeze=False)
        for ax, name in zip(axes[:, 0], names):
            ax.plot(self.history["iteration"], self.history[name], linewidth=0.8)
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("iteration")
        fig.tight_layout()
        fig.savefig(self.output_dir / "loss.png", dpi=100)
        plt.close(fig)
        self._last_plot = time.monotonic()

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: Mapping) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
