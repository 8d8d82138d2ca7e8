"""Sample grids during training: the same latents every time, so progress is easy to see."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from medgan.handlers.preview import preview_images
from medgan.visualize import preview_grid, save_png


class SampleGridSaver:
    """Every ``every`` epochs and at the end, generate from fixed latents and write a PNG grid.

    Writes ``<output_dir>/samples_epoch_<epoch>.png`` and a copy as ``samples_latest.png``; 3D samples show their
    axial, coronal and sagittal mid-slices.

    Args:
        generator: latents -> images (B, C, *spatial) in [-1, 1] (use the EMA generator where there is one).
        output_dir: folder of the PNGs.
        latent_shape: shape of one latent without the batch axis.
        num_samples: images in the grid.
        every: epochs between grids.
        seed: seed of the fixed latents (drawn from their own generator) and of the noise the generator draws itself
            while previewing (:func:`medgan.handlers.preview.preview_images`; the training's random stream is
            untouched).
        generate: how to call the generator, ``generate(generator, latents)``; default ``generator(latents)``.
        rank: only rank 0 writes.
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        output_dir: str,
        latent_shape: tuple[int, ...] | list[int],
        num_samples: int = 16,
        every: int = 1,
        seed: int = 0,
        generate: Callable | None = None,
        rank: int = 0,
    ) -> None:
        self.generator = generator
        self.output_dir = Path(output_dir)
        self.latents = torch.randn((num_samples, *latent_shape), generator=torch.Generator().manual_seed(seed))
        self.seed = seed
        self.every = every
        self.generate = generate or (lambda network, z: network(z))
        self.rank = rank

    def attach(self, engine: Engine) -> None:
        if self.rank == 0:
            engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.every), self)
            engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        device = next(self.generator.parameters()).device
        latents = self.latents.to(device)
        images = preview_images(self.generator, lambda: self.generate(self.generator, latents), self.seed)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        picture = preview_grid(images)
        save_png(picture, str(self.output_dir / f"samples_epoch_{engine.state.epoch:04d}.png"))
        save_png(picture, str(self.output_dir / "samples_latest.png"))
