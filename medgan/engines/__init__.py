"""pytorch-ignite training workflows built on ``monai.engines.Trainer``."""

from medgan.engines.adversarial_trainer import AdversarialTrainer, unwrap
from medgan.engines.consingan_fine_tuner import ConSinGANFineTuner
from medgan.engines.consingan_stages import freeze_inactive_stages, stage_parameter_groups
from medgan.engines.consingan_trainer import ConSinGANTrainer
from medgan.engines.precision import Precision, resolve_amp
from medgan.engines.progressive_schedule import ProgressiveSchedule
from medgan.engines.progressive_trainer import ProgressiveTrainer
from medgan.engines.stylegan2_trainer import StyleGAN2Trainer
from medgan.engines.stylegan_trainer import StyleGANTrainer

__all__ = [
    "freeze_inactive_stages",
    "stage_parameter_groups",
    "AdversarialTrainer",
    "ConSinGANFineTuner",
    "ConSinGANTrainer",
    "Precision",
    "ProgressiveSchedule",
    "ProgressiveTrainer",
    "StyleGAN2Trainer",
    "StyleGANTrainer",
    "resolve_amp",
    "unwrap",
]
