"""Previews during training: eval mode and no gradients while drawing, the training mode restored, the same images
for the same seed although the generator draws its own noise, and the training's random stream untouched."""

from __future__ import annotations

import torch
from torch import nn

from medgan.handlers.preview import preview_images


class NoisyGenerator(nn.Module):
    """Adds noise it draws itself from torch's global stream, as StyleGAN2's noise inputs do; records its mode."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.modes: list[tuple[bool, bool]] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.modes.append((self.training, torch.is_grad_enabled()))
        return z * self.scale + torch.randn_like(z)


def test_preview_is_seeded_in_eval_mode_and_leaves_the_training_stream_alone():
    network, z = NoisyGenerator().train(), torch.zeros(2, 1, 4, 4)
    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    first = preview_images(network, lambda: network(z), seed=1)
    assert torch.equal(torch.rand(3), expected_next)  # the run's stream is where it was
    second = preview_images(network, lambda: network(z), seed=1)
    other = preview_images(network, lambda: network(z), seed=2)
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert network.modes == [(False, False)] * 3 and network.training
    assert first.dtype == torch.float32 and first.device.type == "cpu"
