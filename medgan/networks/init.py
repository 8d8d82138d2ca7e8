"""Weight initialisation shared by the DCGAN family and ConSinGAN."""

from __future__ import annotations

from torch import nn

WEIGHT_STD = 0.02  # Radford et al. 2016, section 4: "initialized from a zero-centered Normal with std 0.02"
NORM_WEIGHT_MEAN = 1.0


def gan_weights_init(module: nn.Module, zero_conv_bias: bool = True) -> None:
    """Convolution weights ~ N(0, 0.02); normalisation weights ~ N(1, 0.02), biases 0; use with ``net.apply``.

    ``zero_conv_bias`` also zeroes convolution biases (DCGAN); ConSinGAN's reference ``weights_init`` keeps torch's
    default conv bias (``functools.partial(gan_weights_init, zero_conv_bias=False)``).
    """
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, WEIGHT_STD)
        if zero_conv_bias and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._NormBase) and module.weight is not None:
        nn.init.normal_(module.weight, NORM_WEIGHT_MEAN, WEIGHT_STD)
        nn.init.zeros_(module.bias)
