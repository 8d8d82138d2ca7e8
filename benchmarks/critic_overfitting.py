"""Does a trained StyleGAN2 critic tell its training slices from held-out ones? ADA's validation heuristic (Karras et
al. 2020, section 3: r_v = (E[D_train] - E[D_validation]) / (E[D_train] - E[D_generated]), 0 when the critic scores
held-out reals like training ones, 1 when it scores them like fakes) next to the heuristic ADA tunes p with, r_t =
E[sign D(train)], for a run of ``benchmarks/quality.py``:

    python benchmarks/critic_overfitting.py --run_dir <quality-out>/runs/stylegan2-none --data_dir <quality-out>/data

``--data_dir`` holds the ``train`` and ``heldout`` folders of ``.npy`` slices that ``benchmarks/quality.py``
writes. The logits are taken without augmentation, from the run's newest checkpoint, as many samples as training
slices; every set is scored ``--repeats`` times in shuffled minibatches of ``--batch_size`` (the critic's minibatch
standard deviation makes a logit depend on its group) and the logits averaged. Prints one Markdown table row per run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from stylegan2_run import load_run, load_slices

from medgan.errors import BadInputError


def scores(critic: torch.nn.Module, images: torch.Tensor, batch_size: int, repeats: int) -> torch.Tensor:
    """(repeats * N,) logits of ``images`` (N, C, *spatial), each pass over them in a new random order."""
    logits = []
    for _ in range(repeats):
        for batch in images[torch.randperm(len(images))].split(batch_size):
            logits.append(critic(batch).flatten())
    return torch.cat(logits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", type=Path, nargs="+", required=True, help="StyleGAN2 bundle output folders")
    parser.add_argument("--data_dir", type=Path, required=True, help="the folder with train/ and heldout/ slices")
    parser.add_argument("--batch_size", type=int, default=16, help="a multiple of the critic's group (4)")
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    if args.batch_size < 4 or args.batch_size % 4 or args.repeats < 1:
        parser.error(f"--batch_size must be a multiple of 4 and --repeats at least 1, got {args.batch_size} "
                     f"and {args.repeats}")  # fmt: skip
    torch.set_num_threads(1)
    print("| run | mean logit: train / held-out / samples | E[sign D]: train / held-out | r_v |")
    print("|---|---|---|---|")
    for run_dir in args.run_dir:
        try:
            settings, generator, critic = load_run(run_dir)
            shape = settings["image_shape"]
            train, heldout = (load_slices(args.data_dir / name, shape) for name in ("train", "heldout"))
        except (FileNotFoundError, BadInputError) as error:
            hint = "pass StyleGAN2 run folders and the data folder benchmarks/quality.py wrote"
            parser.error(f"{str(error).rstrip('.')}; {hint}")
        torch.manual_seed(0)
        with torch.no_grad():
            samples = generator(torch.randn(len(train), settings["latent_size"]))
            logits = {name: scores(critic, images, args.batch_size, args.repeats)
                      for name, images in (("train", train), ("heldout", heldout), ("samples", samples))}  # fmt: skip
        means = {name: float(values.mean()) for name, values in logits.items()}
        r_v = (means["train"] - means["heldout"]) / (means["train"] - means["samples"])
        print(f"| {run_dir} | {means['train']:+.2f} / {means['heldout']:+.2f} / {means['samples']:+.2f} | "
              f"{float(logits['train'].sign().mean()):+.2f} / {float(logits['heldout'].sign().mean()):+.2f} | "
              f"{r_v:+.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
