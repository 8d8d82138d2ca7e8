"""What ADA does to a StyleGAN2 critic's minibatch standard deviation: the statistic (the extra channel
:class:`medgan.layers.MinibatchStd` appends) and the mean logit for 64 reals, 64 samples and 64 copies of one sample,
each augmented by ADA at several fixed p, one transform draw per image as the reference does.

    python benchmarks/minibatch_std_augment.py --run_dir <quality-out>/runs/stylegan2-none \
        --dataset_dir <quality-out>/data/train

Without augmentation the statistic of the copies is 0 and tells the critic that the generator makes one image; the
question is how much of that survives augmentation. ``--run_dir`` is a StyleGAN2 bundle's output folder: the
networks' sizes come from its ``model_settings.json``, the weights from its newest checkpoint (the critic's
minibatch group is the bundle's default, 4). The reals are the ``.npy`` slices ``benchmarks/quality.py`` writes,
resized to the model's shape by area averaging, drawn with replacement.
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
from medgan.handlers.checkpoint import checkpoint_files  # noqa: E402
from medgan.layers.minibatch_std import MinibatchStd  # noqa: E402
from medgan.model_file import read_settings_file  # noqa: E402
from medgan.networks import StyleGAN2Discriminator, StyleGAN2Generator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", type=Path, required=True, help="a StyleGAN2 bundle's output folder")
    parser.add_argument("--dataset_dir", type=Path, required=True, help="the training slices (.npy)")
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5])
    args = parser.parse_args()
    checkpoints = checkpoint_files(args.run_dir / "checkpoints")
    slice_files = sorted(args.dataset_dir.glob("*.npy"))
    if not checkpoints or not slice_files:
        parser.error(f"need checkpoints in {args.run_dir / 'checkpoints'} and .npy slices in {args.dataset_dir}")
    if not all(0 <= p <= 1 for p in args.p):
        parser.error(f"--p are probabilities in [0, 1], got {args.p}")
    torch.set_num_threads(1)
    settings = read_settings_file(args.run_dir / "model_settings.json", "stylegan2")["settings"]
    shape, width = settings["image_shape"], settings["max_channels"]
    common = {"base_shape": settings["base_shape"], "max_channels": width,
              "channel_halving_resolution": settings["channel_halving_resolution"]}  # fmt: skip
    critic = StyleGAN2Discriminator(settings["spatial_dims"], shape, in_channels=settings["channels"], **common)
    generator = StyleGAN2Generator(settings["spatial_dims"], shape, out_channels=settings["channels"],
                                   latent_size=settings["latent_size"], w_dim=settings["w_dim"],
                                   mapping_layers=settings["mapping_layers"], **common)  # fmt: skip
    state = torch.load(checkpoints[-1], weights_only=True, map_location="cpu")
    critic.load_state_dict(state["discriminator"])
    generator.load_state_dict(state["generator"])
    critic.eval(), generator.eval()
    slices = [torch.from_numpy(np.load(path)).float() for path in slice_files]
    real = F.interpolate(torch.stack(slices).reshape(len(slices), 1, *slices[0].shape[-2:]), size=shape, mode="area")
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
