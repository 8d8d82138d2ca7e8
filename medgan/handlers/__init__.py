"""ignite handlers: checkpoints and resume, sample grids, loss plots, progress bar, generator EMA."""

from medgan.handlers.checkpoint import (
    RandomState,
    ResumableCheckpoint,
    RunSettings,
    checkpoint_files,
)
from medgan.handlers.ema import GeneratorEMA
from medgan.handlers.loss_plot import LossPlotter
from medgan.handlers.progress import ProgressBar, every_iterations
from medgan.handlers.progressive import ResolutionPreviewSaver
from medgan.handlers.samples import SampleGridSaver
from medgan.handlers.stage_preview import StagePreviewSaver

__all__ = [
    "GeneratorEMA",
    "LossPlotter",
    "ProgressBar",
    "RandomState",
    "ResolutionPreviewSaver",
    "ResumableCheckpoint",
    "RunSettings",
    "SampleGridSaver",
    "StagePreviewSaver",
    "checkpoint_files",
    "every_iterations",
]
