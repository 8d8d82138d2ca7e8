"""Generators and discriminators, one module per GAN family."""

from medgan.networks.dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]
