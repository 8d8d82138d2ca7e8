"""Small helpers with no medgan dependency, used at every level above the layers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch


def loss_terms(output: Mapping) -> dict[str, float]:
    """Every scalar loss term of an iteration output, as floats: the 0-d entries named ``loss*`` (the adversarial and
    reconstruction losses) or ``*penalty`` (gradient, R1, path-length, drift), and the augmentation strength
    ``augment_p`` of a run that augments; what the progress bar shows, TensorBoard and MLflow receive and ``losses.csv``
    records."""
    return {
        k: float(v)
        for k, v in output.items()
        if getattr(v, "ndim", 1) == 0 and (k.startswith("loss") or k.endswith("penalty") or k == "augment_p")
    }


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with torch's global RNG (CPU, and ``device``'s if it is a GPU) seeded with ``seed``; the state
    before the block is restored after it, so the caller's random stream is untouched."""
    device = torch.device(device)
    gpus = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(seed)
        yield
