"""n-D building blocks, MONAI style: a layer that builds a convolution or pooling takes ``spatial_dims`` (2 or 3)
first (``AdaIN``, ``CBAM``, ``EqualizedConv``, ``ModulatedConv``); the others (``EqualizedLinear``, ``FIRFilter``,
``MinibatchStd``, ``NoiseInjection``, ``PixelNorm``, the resampling and spectral-norm functions) work on any number
of spatial axes as they are."""

from medgan.layers.adain import AdaIN
from medgan.layers.cbam import CBAM, ChannelAttention, SpatialAttention
from medgan.layers.equalized import EqualizedConv, EqualizedLinear, scaled_leaky_relu
from medgan.layers.fir import FIRFilter, upfirdn
from medgan.layers.minibatch_std import MinibatchStd
from medgan.layers.modulated_conv import ModulatedConv, modulated_conv
from medgan.layers.noise import NoiseInjection
from medgan.layers.pixel_norm import PixelNorm
from medgan.layers.resampling import Downsample2, Upsample2, downsample2, upsample2
from medgan.layers.resize import resize, resize_antialiased
from medgan.layers.spectral_norm import apply_spectral_norm, remove_spectral_norm

__all__ = [
    "AdaIN",
    "CBAM",
    "Downsample2",
    "ChannelAttention",
    "EqualizedConv",
    "EqualizedLinear",
    "FIRFilter",
    "MinibatchStd",
    "ModulatedConv",
    "NoiseInjection",
    "PixelNorm",
    "SpatialAttention",
    "Upsample2",
    "apply_spectral_norm",
    "downsample2",
    "modulated_conv",
    "remove_spectral_norm",
    "resize",
    "resize_antialiased",
    "scaled_leaky_relu",
    "upsample2",
    "upfirdn",
]
