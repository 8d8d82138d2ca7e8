"""FIR resampling with a separable low-pass filter, n-D (StyleGAN2's ``upfirdn2d`` for any number of axes).

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020, uses the binomial filter
[1, 3, 3, 1] for every up- and downsampling in the generator and the discriminator (after Zhang, "Making
Convolutional Networks Shift-Invariant Again", ICML 2019). :func:`upfirdn` does what stylegan2-ada-pytorch's
``upfirdn2d`` does, axis by axis: insert ``up - 1`` zeros after every sample, pad, convolve with the 1-D filter,
keep every ``down``-th sample. The filter is normalised to sum 1; upsampling multiplies it by ``up`` per axis so a
constant image keeps its value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FIR_TAPS", "FIRFilter", "filter_axis", "fir_taps", "upfirdn"]

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)
"""The binomial low-pass filter of StyleGAN2's resampling (``resample_filter=[1,3,3,1]``)."""


def fir_taps(taps: tuple[float, ...] | list[float] = FIR_TAPS) -> torch.Tensor:
    """The 1-D filter normalised to sum 1, float32 (K,)."""
    kernel = torch.as_tensor(taps, dtype=torch.float32)
    return kernel / kernel.sum()


def filter_axis(y: torch.Tensor, taps: torch.Tensor, dim: int, down: int) -> torch.Tensor:
    """Correlate ``y`` with ``taps`` along ``dim`` (no padding) and keep every ``down``-th output sample.

    A weighted sum of shifted views: on a CPU this is far faster than a convolution with one input channel.
    """
    size = taps.shape[0]
    length = (y.shape[dim] - size) // down + 1
    if down > 1:  # room for views of length * down samples; the extra zeros are never kept
        y = F.pad(y, [0, 0] * (y.dim() - 1 - dim) + [0, down - 1])
    out = y.narrow(dim, 0, length * down) * taps[0]
    for tap in range(1, size):
        out = out + y.narrow(dim, tap, length * down) * taps[tap]
    if down > 1:
        shape = list(out.shape)
        out = out.reshape(shape[:dim] + [length, down] + shape[dim + 1 :]).select(dim + 1, 0)
    return out


def upfirdn(
    x: torch.Tensor, taps: torch.Tensor, up: int = 1, down: int = 1, pad0: int = 0, pad1: int = 0
) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter and downsample every spatial axis of ``x``.

    Args:
        x: (B, C, *spatial), any number of spatial axes.
        taps: the 1-D filter (K,), applied along every axis (a separable K^n filter); symmetric filters only
            (it is correlated, not flipped, like ``upfirdn2d`` with a symmetric filter).
        up, down: integer factors.
        pad0, pad1: zeros added before / after every axis after upsampling (negative values are not supported).

    Returns:
        (B, C, *spatial') with ``spatial' = (spatial * up + pad0 + pad1 - K) // down + 1`` per axis, scaled by
        ``up`` per axis (gain ``up ** spatial_dims``).
    """
    spatial_dims = x.dim() - 2
    weight = (taps * up).to(x.dtype)
    y = x
    for axis in range(spatial_dims):
        dim = axis + 2
        if up > 1:
            y = torch.stack([y] + [torch.zeros_like(y)] * (up - 1), dim=dim + 1).flatten(dim, dim + 1)
        y = F.pad(y, [0, 0] * (spatial_dims - 1 - axis) + [pad0, pad1])
        y = filter_axis(y, weight, dim, down)
    return y


class FIRFilter(nn.Module):
    """:func:`upfirdn` with the StyleGAN2 filter as a module; the filter is a non-persistent buffer (not in the
    state dict), so it follows ``.to(device)`` and TorchScript export.

    Use :meth:`upsample`, :meth:`downsample` or :meth:`blur` for the paddings of stylegan2-ada-pytorch's
    ``upsample2d``, ``downsample2d`` and the blur before a strided convolution.

    Shapes:
        (B, C, *spatial) -> (B, C, *spatial') as in :func:`upfirdn`.
    """

    def __init__(self, up: int = 1, down: int = 1, pad0: int = 0, pad1: int = 0, taps=FIR_TAPS) -> None:
        super().__init__()
        self.up = up
        self.down = down
        self.pad0 = pad0
        self.pad1 = pad1
        self.register_buffer("taps", fir_taps(taps), persistent=False)

    @classmethod
    def upsample(cls, factor: int = 2, taps=FIR_TAPS) -> FIRFilter:
        """Size x ``factor`` per axis (``upsample2d``: pads (K + f - 1) // 2 and (K - f) // 2)."""
        size = len(taps)
        return cls(up=factor, pad0=(size + factor - 1) // 2, pad1=(size - factor) // 2, taps=taps)

    @classmethod
    def downsample(cls, factor: int = 2, taps=FIR_TAPS) -> FIRFilter:
        """Size / ``factor`` per axis (``downsample2d``: pads (K - f + 1) // 2 and (K - f) // 2)."""
        size = len(taps)
        return cls(down=factor, pad0=(size - factor + 1) // 2, pad1=(size - factor) // 2, taps=taps)

    @classmethod
    def blur(cls, pad0: int, pad1: int, taps=FIR_TAPS) -> FIRFilter:
        """Filtering only, with the given padding (before a strided convolution)."""
        return cls(pad0=pad0, pad1=pad1, taps=taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn(x, self.taps, self.up, self.down, self.pad0, self.pad1)

    def extra_repr(self) -> str:
        return f"up={self.up}, down={self.down}, pad=({self.pad0}, {self.pad1}), taps={self.taps.numel()}"
