"""Previews of a progressive run: one sample grid per resolution stage, and the latest grid during a stage."""

from __future__ import annotations

from pathlib import Path

import torch
from ignite.engine import Engine, Events

from medgan.handlers.loss_plot import LossPlotter
from medgan.handlers.preview import preview_images
from medgan.visualize import preview_grid, save_png


class ResolutionPreviewSaver:
    """Write ``resolution_<side>.png`` (e.g. ``resolution_0064.png``) at the end of every stage and
    ``samples_latest.png`` every ``every`` iterations, from fixed latents; 3D grids show orthogonal mid-slices.

    Attach to a :class:`~medgan.engines.ProgressiveTrainer` (it reads the schedule from it), after the
    :class:`~medgan.handlers.GeneratorEMA` whose module it shows, so the grids show the updated weights.

    Args:
        generator: z (B, latent_size) -> images at its active stage (the EMA generator).
        output_dir: folder of the PNGs.
        latent_size: length of z.
        num_samples: images per grid.
        every: iterations between ``samples_latest.png`` grids (0: only at stage ends).
        seed: seed of the fixed latents and of any noise the generator draws (StyleGAN's noise inputs); the
            training's random stream is untouched, so previews do not change the run.
        loss_plotter: also rewritten at every stage end, so the loss plot follows a long run.
        rank: only rank 0 writes.
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        output_dir: str,
        latent_size: int,
        num_samples: int = 16,
        every: int = 0,
        seed: int = 0,
        loss_plotter: LossPlotter | None = None,
        rank: int = 0,
    ) -> None:
        self.generator = generator
        self.output_dir = Path(output_dir)
        self.latents = torch.randn((num_samples, latent_size), generator=torch.Generator().manual_seed(seed))
        self.seed = seed
        self.every = every
        self.loss_plotter = loss_plotter
        self.rank = rank

    def attach(self, engine: Engine) -> None:
        if self.rank != 0:
            return
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.stage_end)
        if self.every > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.every), self.write, "samples_latest.png")

    def stage_end(self, engine: Engine) -> None:
        """At the last iteration of a stage: the stage's grid, the latest grid and the loss plot."""
        if not engine.schedule.is_stage_end(engine.state.iteration):
            return
        resolution = engine.schedule.resolutions[int(self.generator.stage)]
        self.write(engine, f"resolution_{resolution:04d}.png")
        self.write(engine, "samples_latest.png")
        if self.loss_plotter is not None:
            self.loss_plotter.write()

    def write(self, engine: Engine, name: str) -> None:
        device = next(self.generator.parameters()).device
        images = preview_images(self.generator, lambda: self.generator(self.latents.to(device)), self.seed)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        save_png(preview_grid(images), str(self.output_dir / name))
