"""Generators and discriminators, one module per GAN family."""

from medgan.networks.consingan import (
    ConSinGANDiscriminator,
    ConSinGANGenerator,
    freeze_inactive_stages,
    stage_parameter_groups,
    stages_in_state_dict,
)
from medgan.networks.dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = [
    "ConSinGANDiscriminator",
    "ConSinGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "freeze_inactive_stages",
    "stage_parameter_groups",
    "stages_in_state_dict",
]
