"""Speed and memory switches of the training workflows: channels-last memory formats, ``torch.compile``, and the
fast CPU backend for batch-1 3D convolutions.

They act on the networks a trainer holds, never on the modules a checkpoint saves (``torch.compile`` wraps a module
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


SLOW3D_LIMIT = 20480
"""torch's CPU backend choice for a float32 convolution of a batch of one (``_select_conv_backend``): oneDNN only when
``N * C * D * H`` (the last spatial axis left out, a rule made for 2D) exceeds this, else its native ``Slow3d``
(vol2col) kernel. On this project's 2-core CPU a 3x3x3 convolution's forward and backward on ``Slow3d`` took 3.8-5.6x
as long as the same convolution run as a batch of two on oneDNN (32 channels at 21x24x20: 65.5 against 17.4 ms;
``benchmarks/conv3d_backend.py``)."""


def _pad_the_batch(conv: nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook: a batch-1 float32 CPU input that torch would send to ``Slow3d`` becomes a batch of two (the
    input and zeros), which takes oneDNN; :func:`_drop_the_padding` returns the first output only."""
    (x,) = args
    conv._medgan_padded_batch = (
        not torch.jit.is_scripting() and not torch.jit.is_tracing() and x.device.type == "cpu"
        and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu") and x.dim() == 5 and x.shape[0] == 1
        and x.shape[1] * x.shape[2] * x.shape[3] <= SLOW3D_LIMIT
    )  # fmt: skip
    return (torch.cat([x, torch.zeros_like(x)]),) if conv._medgan_padded_batch else None


def _drop_the_padding(conv: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
    """Forward hook: the input's own output of a batch padded by :func:`_pad_the_batch`."""
    if getattr(conv, "_medgan_padded_batch", False):
        conv._medgan_padded_batch = False
        return output[:1]
    return None


def fast_cpu_conv3d(network: nn.Module) -> nn.Module:
    """Run every 3D convolution of ``network`` that has more than one input channel on oneDNN when torch would take
    its slow native kernel for it (a float32 batch of one on the CPU, see :data:`SLOW3D_LIMIT`), by padding the batch
    with zeros: twice the arithmetic, 3.8-5.6x less time. Same outputs up to float rounding; gradients, double
    backward (the gradient penalty) and ``copy.deepcopy`` (ConSinGAN's new stages) carry the hooks along.
    Single-channel inputs (a network's first layer) stay as they are: padding them was slower (7.5 against 16.2 ms at
    33x39x32, ``benchmarks/conv3d_backend.py``); so do grouped convolutions and kernels larger than 3 in both last
    axes (CBAM's 7x7x7), which torch runs on oneDNN already. Nothing changes on GPUs, in other precisions, for larger
    batches or while exporting. Idempotent; returns ``network``."""
    for module in network.modules():
        # groups > 1 and kernels over 3 in both last axes (CBAM's 7x7x7) take oneDNN already
        wanted = (
            isinstance(module, nn.Conv3d)
            and module.in_channels > 1
            and module.groups == 1
            and min(module.kernel_size[-2:]) <= 3
        )
        if wanted and not hasattr(module, "_medgan_padded_batch"):
            module._medgan_padded_batch = False
            module.register_forward_pre_hook(_pad_the_batch)
            module.register_forward_hook(_drop_the_padding)
    return network
