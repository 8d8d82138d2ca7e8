"""Mixed precision for a training step: autocast plus, for float16, one gradient scaler per optimizer."""

from __future__ import annotations

import contextlib

import torch

from medgan.errors import BadInputError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: bool | str | None, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for an ``amp`` setting: false/None/"none" -> None, true/"bf16" -> bfloat16, "fp16" -> float16."""
    if amp in (None, False, "none", "false", ""):
        return None
    key = "bf16" if amp is True or amp == "true" else amp
    if key not in AMP_DTYPES:
        raise BadInputError(f"amp={amp!r} is not a precision medgan knows; set --amp to false, bf16 or fp16.")
    if key == "fp16" and device.type != "cuda":
        raise BadInputError(f"amp=fp16 needs a CUDA device but the device is {device}; use --amp bf16 on CPU.")
    return AMP_DTYPES[key]


class Precision:
    """Autocast context and loss scaling for one device and dtype (``None`` = full float32)."""

    def __init__(self, device: torch.device, dtype: torch.dtype | None) -> None:
        self.device_type = device.type
        self.dtype = dtype
        self.scaler_enabled = dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context in which forward passes run at the reduced precision (a no-op for float32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler; disabled (a pass-through) unless the dtype is float16."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scaler_enabled)
