"""pytorch-ignite training workflows built on ``monai.engines.Trainer``."""

from medgan.engines.adversarial_trainer import AdversarialTrainer, unwrap
from medgan.engines.consingan_trainer import ConSinGANTrainer
from medgan.engines.precision import Precision, resolve_amp

__all__ = ["AdversarialTrainer", "ConSinGANTrainer", "Precision", "resolve_amp", "unwrap"]
