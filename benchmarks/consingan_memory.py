"""Activation memory of a 3D ConSinGAN iteration at its finest stage, for any max_size, in seconds.

    python benchmarks/consingan_memory.py                       # max_size 64 ... 160 on the embedded volume
    python benchmarks/consingan_memory.py --sizes 128 --channels 64

The networks run on PyTorch's ``meta`` device (shapes only, no arithmetic) while a saved-tensors hook adds up the
bytes autograd keeps for backward, phase by phase, with the bundle's defaults (8 stages, 3 active, 64 channels,
WGAN-GP on the critic):

- critic step: the graphs of D(real), D(fake) and the gradient penalty, held together (default) or one at a time
  (``separate_critic_backward``);
- generator phase: G(z) with its three trained stages, D(fake), and the reconstruction, held together; with
  ``gradient_checkpointing`` the trained stages keep only their inputs, plus one stage recomputed in backward.

A tensor saved twice (an in-place activation's output that is also the next convolution's input) is counted twice,
so the figures are upper bounds; on this CPU the measured peak RSS at max_size 64 was 0.7 of (figure + the
~0.9 GB the process holds anyway).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from medgan.data.pyramid import consingan_stage_shapes  # noqa: E402
from medgan.data.single_image import load_single_image  # noqa: E402
from medgan.losses import gradient_penalty  # noqa: E402
from medgan.networks import ConSinGANDiscriminator, ConSinGANGenerator  # noqa: E402

GIB = 1024**3


def saved_gib(step: Callable[[], object]) -> float:
    """GiB of tensors autograd saves while ``step`` runs."""
    sizes: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        sizes.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(sizes) / GIB


def phases(shapes: list[tuple[int, ...]], channels: int, active: int, checkpointing: bool) -> dict[str, float]:
    """Saved GiB of each part of a finest-stage iteration (networks on the meta device)."""
    generator = ConSinGANGenerator(3, shapes, num_features=channels, num_stages=len(shapes))
    generator.gradient_checkpointing = checkpointing
    plan = generator.stage_shapes.clone()  # the stage plan stays readable; everything else goes to meta
    generator = generator.to("meta")
    generator.stage_shapes = plan
    generator.head.requires_grad_(False)
    for stage in generator.body[: len(shapes) - active]:
        stage.requires_grad_(False)
    critic = ConSinGANDiscriminator(3, num_features=channels).to("meta")
    real = torch.randn(1, 1, *shapes[-1], device="meta")
    finest_input = torch.randn(1, channels, *shapes[-1], device="meta", requires_grad=True)
    body = generator.body[-1]
    generator.gradient_checkpointing = False
    recomputed = saved_gib(lambda: body(finest_input)) if checkpointing else 0.0
    generator.gradient_checkpointing = checkpointing
    return {
        "generator": saved_gib(lambda: generator(torch.randn(1, 1, *shapes[0], device="meta"))),
        "reconstruction": saved_gib(generator.reconstruct),
        "critic": saved_gib(lambda: critic(real)),
        "penalty": saved_gib(lambda: gradient_penalty(critic, real, real, "pixel")),
        "recomputed stage": recomputed,
    }


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--sizes", default="64,96,112,128,144,160", help="max_size values")
    args.add_argument("--channels", type=int, default=64, help="num_features")
    args.add_argument("--num_scales", type=int, default=8)
    args.add_argument("--active_scales", type=int, default=3)
    args.add_argument("--min_size", type=int, default=25)
    opts = args.parse_args()
    volume = tuple(load_single_image(None, 3, 1).image.shape[2:])
    print("| max_size | finest stage | default (GiB) | checkpointing + separate critic backward (GiB) |")
    print("|---|---|---|---|")
    for size in (int(s) for s in opts.sizes.split(",")):
        shapes = consingan_stage_shapes(volume, opts.num_scales, size, opts.min_size)
        plain = phases(shapes, opts.channels, opts.active_scales, checkpointing=False)
        lean = phases(shapes, opts.channels, opts.active_scales, checkpointing=True)
        default = max(
            2 * plain["critic"] + plain["penalty"], plain["generator"] + plain["critic"] + plain["reconstruction"]
        )
        separate = max(
            plain["critic"],
            plain["penalty"],
            lean["generator"] + lean["critic"] + lean["reconstruction"] + lean["recomputed stage"],
        )
        print(f"| {size} | {'x'.join(map(str, shapes[-1]))} | {default:.1f} | {separate:.1f} |")


if __name__ == "__main__":
    main()
