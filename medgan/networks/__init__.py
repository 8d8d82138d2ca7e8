"""Generators and discriminators, one module per GAN family."""

from medgan.networks.consingan import (
    ConSinGANDiscriminator,
    ConSinGANGenerator,
    freeze_inactive_stages,
    stage_parameter_groups,
    stages_in_state_dict,
)
from medgan.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from medgan.networks.mapping import MappingNetwork

__all__ = [
    "ConSinGANDiscriminator",
    "ConSinGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MappingNetwork",
    "freeze_inactive_stages",
    "stage_parameter_groups",
    "stages_in_state_dict",
]
