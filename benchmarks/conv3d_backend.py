"""A 3x3x3 convolution's forward and backward on the CPU, batch of one, as torch runs it and with the batch padded
to two (the input and zeros, which takes oneDNN), as :func:`medgan.engines.performance.fast_cpu_conv3d` does for
the convolutions it hooks.

    python benchmarks/conv3d_backend.py            # the table of benchmarks/README.md
    python benchmarks/conv3d_backend.py --threads 1

For each shape: torch's backend for the plain call (``torch._C._select_conv_backend``), whether ``fast_cpu_conv3d``
pads that convolution, and the median milliseconds of ``--repeats`` forward+backward passes, plain and padded,
alternating, after warm-up. The padded time is measured on every row, also where the hook leaves the convolution
alone, to show why it does (one input channel; shapes torch already sends to oneDNN). The shapes are ConSinGAN
stages of the embedded volume and of the seed project's ``small_brain.npy``, with the bundle's channel counts.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from medgan.engines.performance import SLOW3D_LIMIT, fast_cpu_conv3d

CASES = [  # (in channels, out channels, spatial shape)
    (16, 16, (17, 20, 16)),
    (16, 16, (21, 25, 21)),
    (32, 32, (21, 24, 20)),
    (32, 32, (25, 29, 24)),
    (32, 32, (33, 39, 32)),
    (32, 32, (41, 48, 40)),
    (32, 1, (33, 39, 32)),
    (1, 32, (33, 39, 32)),
    (32, 32, (20, 110, 110)),
]


def step(conv: torch.nn.Module, x: torch.Tensor, padded: bool) -> float:
    start = time.perf_counter()
    out = conv(torch.cat([x, torch.zeros_like(x)]))[:1] if padded else conv(x)
    out.sum().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}")
    print("| in -> out channels | shape | N*C*D*H | torch's backend | fast_cpu_conv3d pads it | plain (ms) | "
          "padded to 2 (ms) | plain / padded |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for channels_in, channels_out, shape in CASES:
        torch.manual_seed(0)
        conv = torch.nn.Conv3d(channels_in, channels_out, 3, padding=1)
        hooked = bool(fast_cpu_conv3d(torch.nn.Conv3d(channels_in, channels_out, 3))._forward_pre_hooks)
        x = torch.randn(1, channels_in, *shape, requires_grad=True)
        backend = torch._C._select_conv_backend(
            x, conv.weight, conv.bias, [1] * 3, [1] * 3, [1] * 3, False, [0] * 3, 1, None
        )
        times = {"plain": [], "padded": []}
        for _ in range(2):  # warm-up
            step(conv, x, False), step(conv, x, True)
        for _ in range(args.repeats):
            times["plain"].append(step(conv, x, False))
            times["padded"].append(step(conv, x, True))
        plain_ms, padded_ms = (1e3 * statistics.median(times[key]) for key in ("plain", "padded"))
        size = channels_in * shape[0] * shape[1]
        print(
            f"| {channels_in} -> {channels_out} | {'x'.join(map(str, shape))} | {size}"
            f"{' (<= limit)' if size <= SLOW3D_LIMIT else ''} | {str(backend).split('.')[-1]} | "
            f"{'yes' if hooked and size <= SLOW3D_LIMIT else 'no'} | {plain_ms:.1f} | {padded_ms:.1f} | "
            f"{plain_ms / padded_ms:.1f}x |"
        )


if __name__ == "__main__":
    main()
