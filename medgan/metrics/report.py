"""The evaluation report for people: one PNG with real and generated images side by side, the foreground intensity
histograms overlaid, the run's loss curves (when ``losses.csv`` is found) and per-stage figures (ConSinGAN)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from medgan.visualize import preview_grid  # noqa: E402

MAX_PREVIEWS = 16
HISTOGRAM_BINS = 100
HISTOGRAM_RANGE = (-1.0, 1.0)
PANEL_WIDTH_INCHES = 6.0
IMAGE_ROW_INCHES = 6.0
PLOT_ROW_INCHES = 3.5
DPI = 100
FEW_POINTS = 20
"""Loss curves with at most this many points are drawn with markers, so that a single point shows."""


def read_losses(path: str | Path) -> dict[str, list[float]]:
    """The columns of a ``losses.csv`` written by :class:`medgan.handlers.LossPlotter` (``iteration`` and one column
    per loss term); empty when the file is missing or has no rows."""
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        return {}
    return {name: [float(row[name]) for row in rows] for name in rows[0]}


def evenly_spaced(images: torch.Tensor, count: int = MAX_PREVIEWS) -> torch.Tensor:
    """At most ``count`` images of a batch, evenly spaced through it (so a set of slices shows its whole range)."""
    if len(images) <= count:
        return images
    return images[np.linspace(0, len(images) - 1, count).round().astype(int)]


def _show_grid(axis: plt.Axes, images: torch.Tensor, title: str) -> None:
    picture = preview_grid(evenly_spaced(images))
    axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    axis.set_title(title)
    axis.axis("off")


def _plot_histograms(axis: plt.Axes, real_values: torch.Tensor, generated_values: torch.Tensor) -> None:
    for values, label in ((real_values, "real"), (generated_values, "generated")):
        axis.hist(
            values.numpy(), bins=HISTOGRAM_BINS, range=HISTOGRAM_RANGE, density=True, histtype="step", label=label
        )
    axis.set_title("foreground intensities")
    axis.set_xlabel("intensity (model units)")
    axis.set_ylabel("density")
    axis.legend()


def _plot_losses(axis: plt.Axes, losses: Mapping[str, Sequence[float]]) -> None:
    marker = "o" if len(losses["iteration"]) <= FEW_POINTS else None
    for name, values in losses.items():
        if name != "iteration":
            axis.plot(losses["iteration"], values, linewidth=0.8, marker=marker, label=name)
    axis.set_title("training losses")
    axis.set_xlabel("iteration")
    axis.legend()
    axis.grid(alpha=0.3)


def _plot_stages(axis: plt.Axes, curves: Mapping[str, Sequence[float | None]]) -> None:
    positive = True
    for name, values in curves.items():
        stages = [stage for stage, value in enumerate(values) if value is not None]
        axis.plot(stages, [values[stage] for stage in stages], marker="o", label=name)
        positive = positive and all(values[stage] > 0 for stage in stages)
    if positive:
        axis.set_yscale("log")  # the curves are of different kinds and magnitudes
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title("per stage")
    axis.set_xlabel("stage (coarsest first)")
    axis.legend()
    axis.grid(alpha=0.3)


def save_report(
    path: str | Path,
    real: torch.Tensor,
    generated: torch.Tensor,
    real_values: torch.Tensor,
    generated_values: torch.Tensor,
    losses: Mapping[str, Sequence[float]] | None = None,
    stage_curves: Mapping[str, Sequence[float | None]] | None = None,
    title: str = "",
) -> Path:
    """Write the report PNG.

    Args:
        path: the PNG to write.
        real: (N, C, *spatial) in [-1, 1]; at most 16 are shown (3D: orthogonal mid-slices).
        generated: (M, C, *spatial) in [-1, 1].
        real_values: (V,) foreground intensities of the real set, for the histogram.
        generated_values: (V',) those of the generated set.
        losses: columns of the run's ``losses.csv`` (see :func:`read_losses`); no panel when empty or None.
        stage_curves: per-stage figures, name -> one value (or None) per stage, coarsest first; no panel when None.
        title: the figure's title.
    """
    plots = [lambda axis: _plot_histograms(axis, real_values, generated_values)]
    if losses:
        plots.append(lambda axis: _plot_losses(axis, losses))
    if stage_curves:
        plots.append(lambda axis: _plot_stages(axis, stage_curves))
    columns = max(2, len(plots))
    figure = plt.figure(figsize=(PANEL_WIDTH_INCHES * columns, IMAGE_ROW_INCHES + PLOT_ROW_INCHES))
    grid = figure.add_gridspec(2, 2 * columns, height_ratios=[IMAGE_ROW_INCHES, PLOT_ROW_INCHES])
    _show_grid(figure.add_subplot(grid[0, :columns]), real, f"real ({len(real)})")
    _show_grid(figure.add_subplot(grid[0, columns:]), generated, f"generated ({len(generated)})")
    width = 2 * columns // len(plots)
    for index, plot in enumerate(plots):
        plot(figure.add_subplot(grid[1, index * width : (index + 1) * width]))
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
