"""Noise injection: ``x + strength * noise`` with one noise map per sample, n-D.

Karras, Laine and Aila, "A Style-Based Generator Architecture for GANs", CVPR 2019, Sec. 2 (a learned scaling factor
per feature map); StyleGAN2 (Karras et al. 2020, Fig. 2) keeps one learned strength per layer. Strengths start at
zero, as in both reference implementations, so the noise enters only as training finds it useful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["NoiseInjection", "called_noise_layers", "given_noise"]


class NoiseInjection(nn.Module):
    """Add single-channel Gaussian noise scaled by learned strengths.

    Args:
        channels: ``None`` for one strength for the whole layer (StyleGAN2), else the number of channels C for one
            strength per channel (StyleGAN).

    Shapes:
        input (B, C, *spatial), optional noise (B, 1, *spatial) or (1, 1, *spatial) -> output (B, C, *spatial).
        Without ``noise``, a new standard normal map is drawn per call.
    """

    def __init__(self, channels: int | None = None) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1 if channels is None else channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn([x.shape[0], 1] + list(x.shape[2:]), device=x.device, dtype=x.dtype)
        strength = self.strength.view([1, -1] + [1] * (x.dim() - 2))
        return x + strength.to(x.dtype) * noise

    def extra_repr(self) -> str:
        return f"strengths={self.strength.numel()}"


def called_noise_layers(network: nn.Module, run: Callable[[], object]) -> list[tuple[NoiseInjection, list[int]]]:
    """The noise-injection layers of ``network`` that ``run()`` (one forward pass of it) calls, in call order, each
    with the shape (1, 1, *spatial) of one sample's noise map there. A progressive generator calls only the layers of
    its active stages."""
    called: list[tuple[NoiseInjection, list[int]]] = []
    handles = [
        module.register_forward_pre_hook(lambda layer, args: called.append((layer, [1, 1, *args[0].shape[2:]])))
        for module in network.modules()
        if isinstance(module, NoiseInjection)
    ]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return called


@contextmanager
def given_noise(layers: Sequence[nn.Module], maps: Sequence[torch.Tensor]) -> Iterator[None]:
    """While open, noise-injection layer ``layers[i]`` adds ``maps[i]`` ((B, 1, *spatial) or (1, 1, *spatial))
    instead of drawing fresh noise; the maps may require grad (the projector optimises them). This is how the
    generators take noise maps as inputs (:mod:`medgan.onnx_export`, :mod:`medgan.projection`) without a noise
    argument threaded through every block."""

    def hook(index: int):
        return lambda module, args: (args[0], maps[index])

    handles = [layer.register_forward_pre_hook(hook(index)) for index, layer in enumerate(layers)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
