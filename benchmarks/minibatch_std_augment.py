"""What ADA does to a StyleGAN2 critic's minibatch standard deviation: the statistic (the extra channel
:class:`medgan.layers.MinibatchStd` appends) and the mean logit for 64 reals, 64 samples and 64 copies of one sample,
each augmented by ADA at several fixed p, one transform draw per image as the reference does.

    python benchmarks/minibatch_std_augment.py --dataset_dir <quality-out>/data/train \
        --checkpoint <quality-out>/runs/stylegan2-none/checkpoints/checkpoint_3000.pt

Without augmentation the statistic of the copies is 0 and tells the critic that the generator makes one image; the
question is how much of that survives augmentation. The checkpoint is a StyleGAN2 bundle's training checkpoint with
the sizes of ``benchmarks/quality.py`` (64 px, ``max_channels`` 32, the bundle's other defaults); the reals are the
``.npy`` slices that benchmark writes, resized to 64 px by area averaging.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # medgan even when not installed

from medgan.augment import AdaptiveAugmentation  # noqa: E402
from medgan.layers.minibatch_std import MinibatchStd  # noqa: E402
from medgan.networks import StyleGAN2Discriminator, StyleGAN2Generator  # noqa: E402

SHAPE, MAX_CHANNELS, LATENT = [64, 64], 32, 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--dataset_dir", type=Path, required=True, help="the training slices (.npy)")
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5])
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = torch.load(args.checkpoint, weights_only=True, map_location="cpu")
    critic = StyleGAN2Discriminator(2, SHAPE, in_channels=1, max_channels=MAX_CHANNELS, channel_halving_resolution=64)
    critic.load_state_dict(state["discriminator"])
    generator = StyleGAN2Generator(2, SHAPE, out_channels=1, latent_size=LATENT, w_dim=LATENT, mapping_layers=8,
                                   max_channels=MAX_CHANNELS, channel_halving_resolution=64)  # fmt: skip
    generator.load_state_dict(state["generator"])
    critic.eval(), generator.eval()
    slices = [torch.from_numpy(np.load(path)).float() for path in sorted(args.dataset_dir.glob("*.npy"))]
    real = F.interpolate(torch.stack(slices).reshape(len(slices), 1, *slices[0].shape[-2:]), size=SHAPE, mode="area")
    statistic: list[float] = []
    layer = next(module for module in critic.modules() if isinstance(module, MinibatchStd))
    layer.register_forward_hook(lambda module, inputs, output: statistic.append(float(output[:, -1].mean())))
    torch.manual_seed(0)
    with torch.no_grad():
        sets = {
            "64 reals": real[torch.randint(0, len(real), (64,))],
            "64 samples": generator(torch.randn(64, LATENT)),
            "64 copies of one sample": generator(torch.randn(1, LATENT)).expand(64, -1, -1, -1).contiguous(),
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
