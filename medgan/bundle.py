"""Glue the bundle configs call: where the bundle is, which process this is, the training data loader."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from medgan.errors import BadInputError


def _config_files_from_argv(argv: list[str]) -> list[str]:
    for index, arg in enumerate(argv):
        if arg == "--config_file" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--config_file="):
            value = arg.split("=", 1)[1]
        else:
            continue
        if value.startswith("["):
            return [str(v) for v in ast.literal_eval(value)]
        return value.split(",")
    return []


def locate_bundle_root(default: str = ".") -> str:
    """The bundle folder of the config being run: the parent of the ``configs/`` folder of the first
    ``--config_file`` on the command line, so ``python -m monai.bundle run --config_file bundles/dcgan/configs/...``
    run from anywhere writes into ``bundles/dcgan``; ``default`` when there is none. ``--bundle_root`` overrides it.
    """
    files = _config_files_from_argv(sys.argv)
    if not files:
        return default
    folder = Path(files[0]).resolve().parent
    return str(folder.parent if folder.name == "configs" else folder)


def distributed_rank() -> int:
    """This process's rank in the default process group, 0 when not distributed."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def make_train_loader(images: torch.Tensor, batch_size: int, num_workers: int = 0, seed: int = 0) -> DataLoader:
    """Shuffled batches of ``images`` (N, C, *spatial), dropping the last partial batch; in a distributed run
    each process gets its own shard through a ``DistributedSampler``.

    Raises:
        BadInputError: when there are fewer images per process than ``batch_size``.
    """
    distributed = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if distributed else 1
    if len(images) // world < batch_size:
        raise BadInputError(
            f"the training set has {len(images)} images ({len(images) // world} per process), fewer than "
            f"batch_size {batch_size}; add images or lower --batch_size."
        )
    dataset = TensorDataset(images)
    sampler = DistributedSampler(dataset, shuffle=True, seed=seed, drop_last=True) if distributed else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
