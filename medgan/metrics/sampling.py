"""Draw samples from a trained generator in memory, with the latents :func:`medgan.inference.generate_and_save` uses."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch

from medgan.errors import BadInputError


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with torch's global RNG (CPU, and ``device``'s if it is a GPU) seeded with ``seed``; the state
    before the block is restored after it, so the caller's random stream is untouched."""
    device = torch.device(device)
    gpus = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def generate_samples(
    generator: torch.nn.Module,
    latent_shape: Sequence[int],
    num_samples: int,
    seed: int = 0,
    batch_size: int = 16,
    generate: Callable | None = None,
) -> torch.Tensor:
    """``num_samples`` images from ``generator`` in eval mode.

    Latents (B, *latent_shape) are drawn in batches of ``batch_size`` from a CPU generator seeded with ``seed``, as
    ``generate_and_save`` draws them, so for a generator that takes all its randomness from the latents (DCGAN) the
    same seed gives the images the inference config writes. ``generate(generator, latents)`` replaces
    ``generator(latents)`` (e.g. ``medgan.inference.consingan_sampler``); noise it draws from torch's global RNG
    (ConSinGAN's later stages) is seeded with ``seed`` too, so the samples depend on ``seed`` only.

    Returns:
        (num_samples, C, *spatial) float32 on the CPU.
    """
    if num_samples < 1:
        raise BadInputError(f"num_samples is {num_samples}; set --num_samples to 1 or more.")
    generate = generate or (lambda network, z: network(z))
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    generator.eval()
    images = []
    with seeded(seed, device):
        for start in range(0, num_samples, batch_size):
            count = min(batch_size, num_samples - start)
            latents = torch.randn((count, *latent_shape), generator=rng).to(device)
            images.append(generate(generator, latents).float().cpu())
    return torch.cat(images)
