"""Fine-tune a trained ConSinGAN generator on a naive image before harmonisation or editing, with the critic,
training image and recipe of the run that trained it (reference tohinz/ConSinGAN ``main_train.py --fine_tune``;
the training itself is :class:`medgan.engines.consingan_fine_tuner.ConSinGANFineTuner`).

A training run's checkpoint (``<output_dir>/checkpoints/checkpoint_<iteration>.pt``, written beside ``model.pt``)
holds the critic's weights and the run's settings: the training image's path, the architecture and the recipe
(learning rates, ``active_scales``, loss weights, ``d_steps`` / ``g_steps``, ``amp``). The model file holds the
generator only, so fine-tuning needs that checkpoint; a bundle shared without its checkpoints cannot be fine-tuned
(the sentence says so). Nothing is written: the generator is fine-tuned in memory and the application uses it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from medgan.data.pyramid import image_pyramid
from medgan.data.single_image import load_single_image
from medgan.engines.consingan_fine_tuner import ConSinGANFineTuner
from medgan.errors import BadInputError
from medgan.handlers.checkpoint import SETTINGS_BEFORE_THEIR_KEY, checkpoint_files, read_checkpoint
from medgan.handlers.progress import ProgressBar
from medgan.networks.consingan import ConSinGANDiscriminator, ConSinGANGenerator, stages_in_state_dict
from medgan.utils import seeded

logger = logging.getLogger(__name__)

CHECKPOINTS_FOLDER = "checkpoints"
"""Where a ConSinGAN training run writes its checkpoints, inside its ``output_dir`` beside ``model.pt``."""


def find_training_checkpoint(model_file: str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> Path:
    """The checkpoint of the run that trained ``model_file``: ``checkpoint`` itself when it is a file, the newest in
    it when it is a folder, else the newest in the ``checkpoints`` folder beside the model file.

    Raises:
        BadInputError: when there is none.
    """
    where = Path(checkpoint) if checkpoint else Path(model_file).parent / CHECKPOINTS_FOLDER
    if where.is_file():
        return where
    found = checkpoint_files(where)
    if not found:
        raise BadInputError(
            f"Fine-tuning needs the training run's checkpoint (its critic and training image) and {where} holds "
            "none; set --fine_tune_checkpoint to the run's checkpoints folder or one of its checkpoint_*.pt files, "
            "or set --fine_tune_iterations 0."
        )
    return found[-1]


def read_training_run(path: Path, generator: ConSinGANGenerator) -> tuple[dict, dict]:
    """(critic state dict, run settings) of the ConSinGAN checkpoint ``path``, checked against ``generator``.

    Raises:
        BadInputError: when the file is not a readable medgan checkpoint, is another bundle's, or trained another
            number of stages or other stage shapes than ``generator`` has.
    """
    state = read_checkpoint(path)
    if state is None:
        raise BadInputError(f"{path} is not a readable medgan checkpoint; set --fine_tune_checkpoint to one.")
    bundle = state["run_settings"].get("bundle")
    if bundle != "consingan":
        raise BadInputError(f"{path} is a checkpoint of {bundle}, not ConSinGAN; give the run that trained the model.")
    settings = dict(SETTINGS_BEFORE_THEIR_KEY) | dict(state["run_settings"]["settings"])
    stages = stages_in_state_dict(state["generator"])
    shapes = [list(shape) for shape in settings["stage_shapes"][:stages]]
    if stages != generator.num_stages or shapes != generator.stage_shapes.tolist()[:stages]:
        raise BadInputError(
            f"{path} is from a run at {stages} stages of shapes {shapes}, but the model has {generator.num_stages} "
            f"of {generator.stage_shapes.tolist()[: generator.num_stages]}; give the checkpoint of the run that "
            "trained this model."
        )
    return state["discriminator"], settings


def critic_padding(settings: Mapping) -> int:
    """The critic's conv padding in a run's settings: ``discriminator_padding``, or ``padding`` when unset (and in
    runs from before that key)."""
    own = settings.get("discriminator_padding")
    return settings["padding"] if own is None else own


def training_critic(settings: Mapping, state_dict: Mapping) -> ConSinGANDiscriminator:
    """The run's critic, built from its settings with its trained weights."""
    critic = ConSinGANDiscriminator(
        spatial_dims=settings["spatial_dims"], in_channels=settings["channels"], num_features=settings["num_features"],
        num_layers=settings["num_layers"], kernel_size=settings["kernel_size"], padding=critic_padding(settings),
        batch_norm=settings["batch_norm"], cbam=settings["cbam"], cbam_variant=settings["cbam_variant"],
        lrelu_alpha=settings["lrelu_alpha"],
    )  # fmt: skip
    critic.load_state_dict(state_dict)
    return critic


SAME_IMAGE_TOLERANCE = 1e-3
"""Largest difference, in [-1, 1] units, between the model's coarsest real image and the recorded training image's,
read now, for the two to count as the same image (they are equal to rounding when nothing changed)."""


def training_reals(settings: Mapping, generator: ConSinGANGenerator) -> list[torch.Tensor]:
    """The training image's pyramid, (1, C, *stage_shape) per built stage, read as the run read it, on the
    generator's device.

    Raises:
        BadInputError: when the image the run recorded is gone, or is no longer the image the model was trained on
            (its coarsest stage differs from the model's reconstruction input, ``fixed_noise``).
    """
    image = settings.get("image")
    if image and not Path(image).exists():
        raise BadInputError(
            f"The training image {image} that the checkpoint records does not exist here; fine-tuning compares with "
            "it, so run from the folder the model was trained in (or where that path exists)."
        )
    training = load_single_image(image, settings["spatial_dims"], settings["channels"])
    device = generator.fixed_noise.device
    reals = [
        real.to(device) for real in image_pyramid(training.image, settings["stage_shapes"][: generator.num_stages])
    ]
    if (reals[0] - generator.fixed_noise).abs().max() > SAME_IMAGE_TOLERANCE:
        raise BadInputError(
            f"The training image {image or '(the embedded MNI152 T1)'} that the checkpoint records is not the image "
            "this model was trained on (it has changed since); fine-tuning would compare with another image, so "
            "restore that image or fine-tune without it (--fine_tune_iterations 0)."
        )
    return reals


def fine_tune(
    generator: ConSinGANGenerator,
    naive_image: torch.Tensor,
    iterations: int,
    model_file: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    edit_noise: float = 0.0,
    seed: int = 0,
) -> None:
    """Fine-tune ``generator`` in place on ``naive_image`` for ``iterations`` iterations (see module docstring), then
    leave it in eval mode without gradients.

    Args:
        generator: the trained generator, loaded from ``model_file``.
        naive_image: (1, C, *stage_shapes[0]) in [-1, 1], the naive image at the coarsest stage.
        iterations: fine-tuning iterations; 0 does nothing.
        model_file: the model file the generator was loaded from (its folder holds the run's ``checkpoints``).
        checkpoint: the training run's checkpoint file or folder; None: ``checkpoints`` beside ``model_file``.
        edit_noise: editing's noise on the naive image (0 for harmonisation).
        seed: seeds the fine-tuning's noise, so the same seed gives the same fine-tuned generator.
    """
    if iterations <= 0:
        return
    path = find_training_checkpoint(model_file, checkpoint)
    critic_state, settings = read_training_run(path, generator)
    device = next(generator.parameters()).device
    critic = training_critic(settings, critic_state).to(device)
    reals = training_reals(settings, generator)
    lr = settings["lr"] if settings.get("g_lr") is None else settings["g_lr"]
    betas = tuple(float(beta) for beta in settings["adam_betas"])
    logger.info(f"fine-tuning the finest stage for {iterations} iterations with the critic of {path}")
    with seeded(seed, device), torch.enable_grad():  # the applications run under no_grad
        trainer = ConSinGANFineTuner(
            device, generator, critic,
            torch.optim.Adam(generator.parameters(), lr=lr, betas=betas, fused=True),
            torch.optim.Adam(critic.parameters(), lr=lr, betas=betas, fused=True),  # as the training's
            reals, naive_image.to(device), iterations, edit_noise,
            active_scales=settings["active_scales"], lr=lr,
            d_lr=settings["lr"] if settings.get("d_lr") is None else settings["d_lr"],
            lr_factor=settings["lr_factor"], gamma_scheduler=settings["gamma_scheduler"],
            alpha_rec_loss=settings["alpha_rec_loss"], lambda_grad_penalty=settings["lambda_grad_penalty"],
            d_steps=settings["d_steps"], g_steps=settings["g_steps"], amp=settings.get("amp"),
            reuse_fakes=settings["reuse_fakes"], train_handlers=[ProgressBar(desc="Fine-tuning")],
        )  # fmt: skip
        trainer.run()
    generator.eval()
    generator.requires_grad_(False)
