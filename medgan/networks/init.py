"""Weight initialisation shared by the DCGAN family and ConSinGAN."""

from __future__ import annotations

from torch import nn

DCGAN_WEIGHT_STD = 0.02  # Radford et al. 2016, section 4: "initialized from a zero-centered Normal with std 0.02"


def dcgan_weights_init(module: nn.Module) -> None:
    """Convolution weights ~ N(0, 0.02); normalisation weights ~ N(1, 0.02); biases 0. Use with ``net.apply``."""
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, DCGAN_WEIGHT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._NormBase) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, DCGAN_WEIGHT_STD)
        nn.init.zeros_(module.bias)
