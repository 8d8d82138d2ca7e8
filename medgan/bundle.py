"""Glue the bundle configs call: where the bundle is, which process this is, the training data loader."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from medgan.errors import BadInputError


def config_files_from_argv(argv: list[str]) -> list[str]:
    for index, arg in enumerate(argv):
        if arg == "--config_file" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--config_file="):
            value = arg.split("=", 1)[1]
        else:
            continue
        return split_config_files(value)
    return []


def split_config_files(value: str) -> list[str]:
    """``a.json,b.json`` or ``['a.json', 'b.json']`` (as MONAI takes ``--config_file``) -> the file names."""
    return [str(v) for v in ast.literal_eval(value)] if value.startswith("[") else value.split(",")


def _bundle_folder(config_file: str | Path) -> str:
    folder = Path(config_file).resolve().parent
    return str(folder.parent if folder.name == "configs" else folder)


def _scripts_config_files(frame) -> list[str]:
    """The ``config_file`` argument of a ``monai.bundle.scripts`` frame (``run``, ``ckpt_export``, ...), or []."""
    value = frame.f_locals.get("config_file_", frame.f_locals.get("config_file"))
    if isinstance(value, (str, Path)):
        return split_config_files(str(value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, Path)) for v in value):
        return [str(v) for v in value]
    return []


def running_config_files() -> list[str]:
    """The config files of the ``monai.bundle`` call on the call stack (``python -m monai.bundle run``,
    ``monai.bundle.run``, ``ckpt_export``, ``verify_net_in_out``, ...), else the command line's ``--config_file``;
    [] when neither is known."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "monai.bundle.scripts" and (files := _scripts_config_files(frame)):
            return files
        frame = frame.f_back
    return config_files_from_argv(sys.argv)


def _workflow_config_root() -> Path | None:
    """``config_root_path`` of a ``ConfigWorkflow`` on the call stack (``monai.bundle.load``, MONAI Label)."""
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        # vars(), not getattr: ConfigWorkflow.__getattr__ looks unknown attributes up in the config itself
        root = getattr(owner, "__dict__", {}).get("config_root_path") if owner is not None else None
        if root is not None:
            return Path(root)
        frame = frame.f_back
    return None


def locate_bundle_root(default: str = ".") -> str:
    """The bundle folder of the config being parsed: the parent of its ``configs/`` folder, so
    ``python -m monai.bundle run --config_file bundles/dcgan/configs/...`` run from anywhere writes into
    ``bundles/dcgan``, and ``monai.bundle.load`` / ``ckpt_export`` called from Python find the bundle's model.
    Found from the MONAI call on the call stack (a workflow's config folder, else :func:`running_config_files`),
    else ``default``. ``--bundle_root`` overrides it.
    """
    root = _workflow_config_root()
    if root is not None:
        return str(root.parent if root.name == "configs" else root)
    files = running_config_files()
    return _bundle_folder(files[0]) if files else default


def distributed_rank() -> int:
    """This process's rank in the default process group, 0 when not distributed."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def end_distributed() -> None:
    """End a distributed run (``multi_gpu_train.json``'s ``finalize``): wait until every process has finished
    its last handlers (rank 0 writes the final checkpoint and model while the others are already done), then
    destroy the process group. Without the barrier a process that tears its connections down first can make a
    peer abort at exit (gloo: "terminate called without an active exception", exit -6). No-op when not distributed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


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
