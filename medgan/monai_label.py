"""MONAI Label infer tasks serving trained medgan bundles (the app in ``apps/monailabel`` uses them).

Needs the optional ``monailabel`` package (``pip install -e ".[monailabel]"``).

- :class:`ConSinGANHarmonisationTask` is MONAI Label's :class:`BundleInferTask` on the bundle's ``inference.json``
  with ConSinGAN's own pre-processing, inferer and post-processing: the request's image is scaled with the
  training image's intensity range and injected at ``start_stage``; the later stages add the learnt texture
  (SinGAN harmonisation/editing). The result is written on the request image's own grid and in its units.
- :class:`SamplingTask` is a custom :class:`BasicInferTask` for a random sample of any of the six bundles: it needs
  no input image (MONAI Label's REST ``/infer`` still names one, which it does not read); ConSinGAN's sample lands
  on the training image's field of view.

Both take ``seed`` in the request (``params``); the harmonisation also ``start_stage``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask
from monailabel.tasks.infer.bundle import BundleInferTask

from medgan.data.single_image import load_single_image
from medgan.inference import resampled_affine
from medgan.serving import BundleGenerator, bundle_model_file, consingan_generate, to_volume

START_STAGE = "start_stage"
SEED = "seed"
PRED = "pred"


class LoadInjectedImage:
    """Pre-transform: read the request's image (a file path) as ConSinGAN reads its training image, scaled with the
    training image's intensity range; ``image`` becomes (C, *spatial), ``image_meta_dict`` holds its affine."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings

    def __call__(self, data: dict) -> dict:
        loaded = load_single_image(
            data["image"], self.settings["spatial_dims"], self.settings["channels"], self.settings["intensity_range"]
        )
        data["image"] = loaded.image[0]
        data["image_meta_dict"] = {"affine": loaded.affine}
        return data


class HarmonisationInferer:
    """Inferer ``(inputs (1, C, *spatial), generator) -> (1, C, *finest)``: the image injected at ``start_stage``."""

    def __init__(self, settings: Mapping[str, Any], start_stage: int, seed: int) -> None:
        self.settings = settings
        self.start_stage = start_stage
        self.seed = seed

    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module) -> torch.Tensor:
        return consingan_generate(network, self.settings, self.seed, self.start_stage, inputs)[None]


class WriteAsVolume:
    """Post-transform: ``pred`` resized to the shape of the ``shape_of`` entry of the data (the input image), or
    kept at the finest stage when None, in the training image's intensity units, written as float32 NIfTI with the
    input image's affine, or with ``training_grid`` one that places it on the training image's field of view."""

    def __init__(self, settings: Mapping[str, Any], shape_of: str | None = "image", training_grid: bool = False):
        self.settings = settings
        self.shape_of = shape_of
        self.training_grid = training_grid

    def __call__(self, data: dict) -> dict:
        finest = list(data[PRED].shape[1:])
        shape = list(data[self.shape_of].shape[1:]) if self.shape_of else finest
        data[PRED] = to_volume(data[PRED], self.settings.get("intensity_range"), shape)
        if self.training_grid and "affine" in self.settings:
            affine = resampled_affine(self.settings["affine"], self.settings["image_shape"], finest)
        elif self.shape_of is None:
            affine = np.eye(4)  # a multi-image model's sample: no scan it belongs to
        else:
            affine = data["image_meta_dict"]["affine"]
        data[f"{PRED}_meta_dict"] = {"affine": np.asarray(affine, np.float64)}  # where MONAI Label's writer looks
        data["result_extension"] = ".nii.gz"
        data["result_dtype"] = np.float32
        data["result"] = {"shape": shape, SEED: int(data.get(SEED, 0)), START_STAGE: data.get(START_STAGE)}
        return data


class ConSinGANHarmonisationTask(BundleInferTask):
    """Harmonisation / editing with a ConSinGAN bundle through MONAI Label's bundle infer task (model.pt required:
    the exported TorchScript has no image-injection entry)."""

    def __init__(self, bundle_dir: str | Path, conf: Mapping[str, str] | None = None, start_stage: int = 1) -> None:
        bundle_model_file(bundle_dir)
        super().__init__(
            str(bundle_dir),
            dict(conf or {}),
            type=InferType.OTHERS,
            post_filter=None,
            add_post_restore=False,
            load_strict=True,
        )
        self.settings = self.bundle_config.get_parsed_content("model_settings")
        self._config.update({START_STAGE: start_stage, SEED: 0})

    def pre_transforms(self, data: dict | None = None) -> Sequence[Callable]:
        return [LoadInjectedImage(self.settings)]

    def inferer(self, data: dict | None = None) -> HarmonisationInferer:
        data = data or {}
        return HarmonisationInferer(self.settings, int(data.get(START_STAGE, 1)), int(data.get(SEED, 0)))

    def post_transforms(self, data: dict | None = None) -> Sequence[Callable]:
        return [WriteAsVolume(self.settings)]


class SamplingTask(BasicInferTask):
    """A random sample of any medgan bundle's generator, with no input image (MONAI Label's REST ``/infer`` still
    names one, which it does not read): ConSinGAN's on the training image's field of view and in its intensity
    units, the multi-image bundles' (DCGAN, SNGAN, PGGAN, StyleGAN, StyleGAN2) in [-1, 1] with an identity
    affine. The network comes from the bundle's ``inference.json`` and ``models/model_settings.json``."""

    def __init__(self, bundle_dir: str | Path) -> None:
        self.bundle = BundleGenerator(bundle_dir)
        self.settings = self.bundle.settings
        where = "on the training image's field of view" if self.bundle.single_image else "in [-1, 1]"
        super().__init__(
            path=str(bundle_model_file(bundle_dir)),
            network=self.bundle.network,
            type=InferType.OTHERS,
            labels={"image": 0},
            dimension=self.settings["spatial_dims"],
            description=f"A new random {self.bundle.name} sample {where} (no input needed)",
            config={SEED: 0},
        )

    def pre_transforms(self, data: dict | None = None) -> Sequence[Callable]:
        return []

    def run_inferer(self, data: dict, convert_to_batch: bool = True, device: str = "cuda") -> dict:
        data[PRED] = self.bundle.sample(int(data.get(SEED, 0)), self._get_network(device, data))
        return data

    def post_transforms(self, data: dict | None = None) -> Sequence[Callable]:
        return [WriteAsVolume(self.settings, shape_of=None, training_grid=True)]
