"""Speed and memory switches of the training workflows: channels-last memory formats and ``torch.compile``.

Both act on the networks a trainer holds, never on the modules a checkpoint saves (``torch.compile`` wraps a module
without changing its state dict; a memory format changes strides, not values or keys).
"""

from __future__ import annotations

import shutil

import torch
from torch import nn

from medgan.errors import BadInputError

CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}
"""Channels-last memory format by tensor rank: (B, C, H, W) -> NHWC, (B, C, D, H, W) -> NDHWC."""


def channels_last(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in the channels-last format of its rank (4-D or 5-D); other ranks are returned unchanged."""
    memory_format = CHANNELS_LAST.get(tensor.dim())
    return tensor if memory_format is None else tensor.contiguous(memory_format=memory_format)


def to_channels_last(module: nn.Module) -> nn.Module:
    """Store every 4-D / 5-D parameter and buffer of ``module`` channels-last (``channels_last`` /
    ``channels_last_3d``), in place; convolutions then run channels-last. Returns ``module``."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.dim() in CHANNELS_LAST:
            tensor.data = channels_last(tensor.data)
    return module


def compile_network(network: nn.Module, device: torch.device) -> nn.Module:
    """``torch.compile(network)``; on CPU TorchInductor builds C++ kernels, so a C++ compiler must be on the PATH.

    Raises:
        BadInputError: on CPU when no C++ compiler (``c++``, ``g++``, ``clang++``) is found.
    """
    if device.type == "cpu" and not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
        raise BadInputError(
            "torch_compile needs a C++ compiler on the CPU and none (c++, g++, clang++) is on the PATH; "
            "install one or set --torch_compile false."
        )
    return torch.compile(network)
