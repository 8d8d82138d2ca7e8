"""Per-stage quality of a trained ConSinGAN model, 2D or 3D: patch SWD, SinGAN diversity and reconstruction error at
every stage, and a figure of the finest stage's samples.

    python benchmarks/consingan_stage_quality.py --model /tmp/recipe3d/model.pt --out /tmp/recipe3d-quality

The model is built as ``inference.json`` builds it (its ``network_def`` with ``model.pt`` and its
``model_settings.json``); the real image is the
training image (``--image``; default: the embedded MNI152 T1, what a run without ``--image`` trained on) scaled with
the model's intensity range and resized to every stage shape. At each stage, ``--num_samples`` random samples from
the generator cut after that stage (:func:`medgan.metrics.stages.truncated_generators`, the same draws as
``evaluate.json``'s per-stage patch SWD) give:

- patch SWD x1e3 (:func:`medgan.metrics.stages.stage_patch_swd`; in 3D the patches are 3D);
- SinGAN diversity (:func:`medgan.metrics.diversity.singan_diversity`: per-voxel standard deviation over the samples
  over the real image's standard deviation);
- reconstruction MSE (:func:`medgan.metrics.stages.stage_reconstruction_errors`).

Writes ``stage_quality.json``, ``stage_quality.md`` and ``samples.png`` (the real image, the reconstruction and the
first four samples at the finest stage, two per row, each pixel shown 3x3; 3D: axial, coronal and sagittal mid-slices
of each) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from medgan.data.pyramid import image_pyramid
from medgan.data.single_image import load_single_image
from medgan.metrics.diversity import singan_diversity
from medgan.metrics.stages import stage_patch_swd, stage_reconstruction_errors, truncated_generators
from medgan.model_file import model_settings
from medgan.networks import ConSinGANGenerator
from medgan.onnx_export import build_generator
from medgan.utils import seeded
from medgan.visualize import preview_grid, save_png

ROOT = Path(__file__).resolve().parent.parent
SHOWN_SAMPLES = 4
ZOOM = 3  # pixels per voxel in the figure


@torch.no_grad()
def stage_diversity(generator: ConSinGANGenerator, reals: list[torch.Tensor], num_samples: int, seed: int) -> list:
    """SinGAN diversity at every stage, coarsest first, of the samples ``stage_patch_swd`` draws."""
    first_shape = generator.stage_shapes[0].tolist()
    found = {}
    for stage, truncated in truncated_generators(generator):
        with seeded(seed):
            z = torch.randn((num_samples, generator.out_channels, *first_shape))
            samples = truncated.generate(z).float()
        found[stage] = singan_diversity(samples, reals[stage]).value
    return [found[stage] for stage in sorted(found)]


@torch.no_grad()
def finest_figure(generator: ConSinGANGenerator, real: torch.Tensor, seed: int) -> torch.Tensor:
    """(2 + SHOWN_SAMPLES, C, *finest shape): the real image, the reconstruction, random samples."""
    with seeded(seed):
        z = torch.randn((SHOWN_SAMPLES, generator.out_channels, *generator.stage_shapes[0].tolist()))
        samples = generator.generate(z)
    return torch.cat([real, generator.reconstruct(), samples]).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a ConSinGAN model.pt (settings file beside it)")
    parser.add_argument("--image", default=None, help="the training image (default: the embedded MNI152 T1)")
    parser.add_argument("--num_samples", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    generator, _ = build_generator(ROOT / "bundles" / "consingan", args.model)  # inference.json's network_def
    settings = model_settings(args.model, "consingan", ROOT / "bundles" / "consingan")
    image = load_single_image(args.image, settings["spatial_dims"], settings["channels"], settings["intensity_range"])
    reals = image_pyramid(image.image, settings["stage_shapes"][: generator.num_stages])
    swd = stage_patch_swd(generator, reals, args.num_samples, args.seed)
    diversity = stage_diversity(generator, reals, args.num_samples, args.seed)
    reconstruction = stage_reconstruction_errors(generator, reals)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "model": str(args.model), "image": args.image or "embedded MNI152 T1", "num_samples": args.num_samples,
        "seed": args.seed, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "stage_shapes": settings["stage_shapes"][: generator.num_stages],
        "patch_swd_x1e3": swd.details["per_stage"], "patch_sizes": swd.settings["patch_sizes"],
        "singan_diversity": diversity, "reconstruction_mse": reconstruction.details["per_stage"],
    }  # fmt: skip
    (args.out / "stage_quality.json").write_text(json.dumps(record, indent=2))
    rows = [
        "| stage | shape | patch SWD x1e3 (patch) | SinGAN diversity | reconstruction MSE |",
        "|---|---|---|---|---|",
    ]
    for stage, shape in enumerate(record["stage_shapes"]):
        value = record["patch_swd_x1e3"][stage]
        shown = "-" if value is None else f"{value:.1f} ({record['patch_sizes'][stage]})"
        rows.append(f"| {stage} | {'x'.join(map(str, shape))} | {shown} | {diversity[stage]:.3f} | "
                    f"{record['reconstruction_mse'][stage]:.4f} |")  # fmt: skip
    (args.out / "stage_quality.md").write_text("\n".join(rows) + "\n")
    grid = preview_grid(finest_figure(generator, reals[-1], args.seed), ncols=2)
    save_png(np.kron(grid, np.ones((ZOOM, ZOOM) + (1,) * (grid.ndim - 2), np.uint8)), str(args.out / "samples.png"))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
