"""Generating from a trained bundle outside ``python -m monai.bundle run``: what the MONAI Label tasks
(:mod:`medgan.monai_label`) and the MONAI Deploy operators (:mod:`medgan.deploy`) share. Needs neither of them.

- :class:`BundleGenerator`: a bundle folder's generator, built by the bundle's own ``configs/inference.json``
  (``network_def``, ``model_settings``) with its ``models/model.pt``; for ConSinGAN, random samples and harmonisation.
- :class:`TorchScriptGenerator`: an exported ``models/model.ts`` and the bundle's ``configs/metadata.json``; random
  samples drawn from the latent that the metadata describes (any medgan bundle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.bundle import ConfigParser

from medgan.data.intensity import denormalize
from medgan.data.single_image import SingleImage, load_single_image
from medgan.errors import BadInputError
from medgan.inference import consingan_sampler, generate_samples
from medgan.layers.resize import resize
from medgan.model_file import load_weights


def bundle_model_file(bundle_dir: str | Path) -> Path:
    """``models/model.pt`` of the bundle; a clear error when it has not been trained."""
    model_file = Path(bundle_dir) / "models" / "model.pt"
    if not model_file.is_file():
        raise BadInputError(
            f"{bundle_dir} has no models/model.pt; train the bundle or download a packed one with its model first."
        )
    return model_file


def to_volume(image: torch.Tensor, intensity_range: Sequence[float] | None, shape: Sequence[int]) -> np.ndarray:
    """``image`` (C, *spatial) in [-1, 1] resized to ``shape`` and mapped to ``intensity_range`` (kept in [-1, 1]
    when None: a multi-image model, trained on images each scaled to [-1, 1]): float32 (*shape) for one channel,
    (*shape, C) otherwise."""
    resized = resize(image.detach().float().cpu()[None], [int(s) for s in shape])[0]
    if intensity_range is not None:
        resized = denormalize(resized, *intensity_range)
    array = resized.numpy().astype(np.float32)
    return array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)


def consingan_generate(
    network: torch.nn.Module,
    settings: Mapping[str, Any],
    seed: int,
    start_stage: int = 0,
    start_image: torch.Tensor | None = None,
) -> torch.Tensor:
    """One ConSinGAN image (C, *finest stage shape) in [-1, 1]: a random sample, or ``start_image``
    (1, C, *spatial) injected at ``start_stage`` (harmonisation/editing); the same ``seed`` gives the same image."""
    stage_shapes = settings["stage_shapes"][: network.num_stages]
    sampler = consingan_sampler(stage_shapes, start_stage, start_image)
    return generate_samples(network, [settings["channels"], *stage_shapes[0]], 1, seed, generate=sampler)[0]


class BundleGenerator:
    """The generator of a trained bundle folder, built from the settings the run used (``model_settings.json``).

    Attributes:
        name: the bundle's name (``bundle_name``).
        network: the generator (eval mode, CPU) with the trained weights.
        settings: the model's settings (ConSinGAN: stage shapes, intensity range, affine, ...).
    """

    def __init__(self, bundle_dir: str | Path) -> None:
        model_file = bundle_model_file(bundle_dir)
        parser = ConfigParser()
        parser.read_config(str(Path(bundle_dir) / "configs" / "inference.json"))
        parser["bundle_root"] = str(bundle_dir)
        parser["ckpt_path"] = str(model_file)
        self.settings: dict = parser.get_parsed_content("model_settings")
        self.network: torch.nn.Module = parser.get_parsed_content("network_def")
        self.name: str = parser.get_parsed_content("bundle_name")
        load_weights(self.network, model_file, self.name)
        self.network.eval()

    @property
    def single_image(self) -> bool:
        """Whether this is a single-image (ConSinGAN) model, whose samples lie on the training image's grid."""
        return "stage_shapes" in self.settings

    def sample(self, seed: int = 0, network: torch.nn.Module | None = None) -> torch.Tensor:
        """One random sample (C, *spatial) in [-1, 1] of this bundle's generator (or ``network``, e.g. the same on
        another device); the same seed gives the same image."""
        network = self.network if network is None else network
        if self.single_image:
            return consingan_generate(network, self.settings, seed)
        return generate_samples(network, [self.settings["latent_size"]], 1, seed)[0]

    def load_image(self, path: str | Path) -> SingleImage:
        """An image to inject, read and scaled as the training image was (its intensity range)."""
        return load_single_image(
            path, self.settings["spatial_dims"], self.settings["channels"], self.settings["intensity_range"]
        )

    def harmonise(self, path: str | Path, start_stage: int = 1, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """ConSinGAN harmonisation of the image at ``path`` from ``start_stage``, resized back onto that image's grid.

        Returns:
            (C, *spatial of the image) in [-1, 1], and the image's affine.
        """
        image = self.load_image(path)
        generated = consingan_generate(self.network, self.settings, seed, start_stage, image.image)
        return resize(generated[None].float(), list(image.image.shape[2:]))[0], image.affine


class TorchScriptGenerator:
    """An exported generator (``model.ts``) with the bundle's ``metadata.json``: the latent it takes is the
    metadata's input (``inputs#image``, the key MONAI's ``verify_net_in_out`` reads), ``num_channels`` x
    ``spatial_shape``; sizes given as ``"*"`` (ConSinGAN's coarsest stage, set by the training image) are read from
    the module's ``stage_shapes`` buffer, which medgan's single-image generators export."""

    def __init__(self, model_file: str | Path, metadata_file: str | Path) -> None:
        for path in (model_file, metadata_file):
            if not Path(path).is_file():
                raise BadInputError(f"{path} does not exist; export the bundle's model.ts (ckpt_export) first.")
        self.module = torch.jit.load(str(model_file), map_location="cpu").eval()
        self.metadata = json.loads(Path(metadata_file).read_text())
        self.latent_shape = self._latent_shape()

    def _latent_shape(self) -> list[int]:
        latent = next(iter(self.metadata["network_data_format"]["inputs"].values()))
        spatial = list(latent.get("spatial_shape", []))
        if not all(isinstance(size, int) for size in spatial):
            if not hasattr(self.module, "stage_shapes"):
                raise BadInputError(
                    f"the metadata's latent shape {spatial} is symbolic and the exported model has no stage_shapes; "
                    "export the model with medgan's ckpt_export command."
                )
            spatial = [int(size) for size in self.module.stage_shapes[0].tolist()]
        return [int(latent["num_channels"]), *spatial]

    def sample(self, num_samples: int, seed: int = 0, batch_size: int = 16) -> torch.Tensor:
        """``num_samples`` images (N, C, *spatial) in [-1, 1]; the same seed gives the same images."""
        return generate_samples(self.module, self.latent_shape, num_samples, seed, batch_size)
