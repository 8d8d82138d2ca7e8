"""What ADA does to a StyleGAN2 critic's minibatch standard deviation: the statistic (the extra channel
:class:`medgan.layers.MinibatchStd` appends) and the mean logit for 64 reals, 64 samples and 64 copies of one sample,
each augmented by ADA at several fixed p, one transform draw per image as the reference does.

    python benchmarks/minibatch_std_augment.py --run_dir <quality-out>/runs/stylegan2-none \
        --dataset_dir <quality-out>/data/train

Without augmentation the statistic of the copies is 0 and tells the critic that the generator makes one image; the
question is how much of that survives augmentation. ``--run_dir`` is a StyleGAN2 bundle's output folder: the
networks' sizes come from its ``model_settings.json``, the weights from its newest checkpoint (the critic's
minibatch group is the bundle's default, 4; ``benchmarks/stylegan2_run.py``). The reals are the ``.npy`` slices
``benchmarks/quality.py`` writes, resized to the model's shape by area averaging, drawn with replacement.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from stylegan2_run import load_run, load_slices

from medgan.augment import AdaptiveAugmentation
from medgan.errors import BadInputError
from medgan.layers.minibatch_std import MinibatchStd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", type=Path, required=True, help="a StyleGAN2 bundle's output folder")
    parser.add_argument("--dataset_dir", type=Path, required=True, help="the training slices (.npy)")
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5])
    args = parser.parse_args()
    if not all(0 <= p <= 1 for p in args.p):
        parser.error(f"--p are probabilities in [0, 1], got {args.p}")
    try:
        settings, generator, critic = load_run(args.run_dir)
        real = load_slices(args.dataset_dir, settings["image_shape"])
    except (FileNotFoundError, BadInputError) as error:
        parser.error(f"{str(error).rstrip('.')}; pass a StyleGAN2 run folder and the slices it trained on")
    torch.set_num_threads(1)
    statistic: list[float] = []
    layer = next(module for module in critic.modules() if isinstance(module, MinibatchStd))
    layer.register_forward_hook(lambda module, inputs, output: statistic.append(float(output[:, -1].mean())))
    torch.manual_seed(0)
    with torch.no_grad():
        sets = {
            "64 reals": real[torch.randint(0, len(real), (64,))],
            "64 samples": generator(torch.randn(64, settings["latent_size"])),
            "64 copies of one sample": generator(torch.randn(1, settings["latent_size"]))
            .expand(64, -1, -1, -1)
            .contiguous(),
        }
        print("| p | " + " | ".join(f"{name}: statistic, logit" for name in sets) + " |")
        print("|---|" + "---|" * len(sets))
        for p in args.p:
            augment = AdaptiveAugmentation(2, p=p, target=None)
            cells = []
            for images in sets.values():
                statistic.clear()
                logit = float(critic(augment(images)).mean())
                cells.append(f"{np.mean(statistic):.3f}, {logit:+.2f}")
            print(f"| {p:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
