"""n-D building blocks, MONAI style: the first argument of every layer is ``spatial_dims`` (2 or 3)."""

from medgan.layers.cbam import CBAM, ChannelAttention, SpatialAttention
from medgan.layers.spectral_norm import apply_spectral_norm, remove_spectral_norm

__all__ = ["CBAM", "ChannelAttention", "SpatialAttention", "apply_spectral_norm", "remove_spectral_norm"]
