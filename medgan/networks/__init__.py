"""Generators and discriminators, one module per GAN family."""

from medgan.networks.consingan import (
    ConSinGANDiscriminator,
    ConSinGANGenerator,
    stages_in_state_dict,
)
from medgan.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from medgan.networks.mapping import MappingNetwork
from medgan.networks.pggan import PGGANDiscriminator, PGGANGenerator
from medgan.networks.progressive import ProgressiveGenerator, ProgressiveNetwork
from medgan.networks.stylegan import StyleGANGenerator
from medgan.networks.stylegan2_discriminator import StyleGAN2Discriminator
from medgan.networks.stylegan2_generator import StyleGAN2Generator

__all__ = [
    "ConSinGANDiscriminator",
    "ConSinGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MappingNetwork",
    "PGGANDiscriminator",
    "PGGANGenerator",
    "ProgressiveGenerator",
    "ProgressiveNetwork",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "StyleGANGenerator",
    "stages_in_state_dict",
]
