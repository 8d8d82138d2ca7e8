"""Per-stage previews of a multi-stage single-image GAN: the real image, its reconstruction and random samples."""

from __future__ import annotations

from pathlib import Path

import torch
from ignite.engine import Engine, Events

from medgan.handlers.preview import preview_images
from medgan.visualize import preview_grid, save_png


class StagePreviewSaver:
    """At the end of every stage write ``stage_<k>.png``: the real image at that stage, the reconstruction
    (fixed noise) and ``num_samples`` random samples, one row (3D: orthogonal mid-slices of each).

    Attach to a :class:`~medgan.engines.ConSinGANTrainer` (it reads ``reals`` and the generator from it).

    Args:
        output_dir: folder of the PNGs.
        num_samples: random samples per preview.
        seed: seed of the samples' coarsest noise and of the later stages' noise (drawn under
            :func:`medgan.handlers.preview.preview_images`, so the training's random stream is untouched).
        rank: only rank 0 writes.
    """

    def __init__(self, output_dir: str, num_samples: int = 4, seed: int = 0, rank: int = 0) -> None:
        self.output_dir = Path(output_dir)
        self.num_samples = num_samples
        self.seed = seed
        self.rank = rank

    def attach(self, engine: Engine) -> None:
        if self.rank == 0:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine) -> None:
        network = engine.network
        real = engine.reals[network.num_stages - 1]
        z = torch.randn((self.num_samples, *engine.latent_shape), generator=torch.Generator().manual_seed(self.seed))
        images = preview_images(network, lambda: torch.cat([real, network.reconstruct(), network(z.to(real.device))]),
                                self.seed)  # fmt: skip
        self.output_dir.mkdir(parents=True, exist_ok=True)
        save_png(preview_grid(images, ncols=len(images)), str(self.output_dir / f"stage_{network.num_stages - 1}.png"))
