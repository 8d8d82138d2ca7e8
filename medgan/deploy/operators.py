"""MONAI Deploy operators: generated images from an exported generator, ConSinGAN harmonisation of an input image,
and a writer. ``apps/monai_deploy/app.py`` composes them into an application.

Each source operator emits ``images``: a list of :class:`monai.deploy.core.Image`, data (C, *spatial) float32 in
[-1, 1], metadata ``affine`` (4x4 or None) and ``intensity_range`` ((low, high) or None) for the writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.deploy.core import Fragment, Image, Operator, OperatorSpec

from medgan.inference import write_image
from medgan.output_manifest import check_output_dir, record_outputs, remove_recorded
from medgan.serving import BundleGenerator, TorchScriptGenerator

IMAGES = "images"


def _image(data: torch.Tensor, affine: np.ndarray | None = None, intensity_range=None) -> Image:
    return Image(data.float().cpu().numpy(), {"affine": affine, "intensity_range": intensity_range})


class GeneratorOperator(Operator):
    """Emits ``num_samples`` images from an exported generator: ``model_file`` (``model.ts``) with the bundle's
    ``metadata_file``, which gives the latent's shape; the same ``seed`` gives the same images."""

    def __init__(
        self,
        fragment: Fragment,
        *args,
        model_file: str | Path,
        metadata_file: str | Path,
        num_samples: int = 4,
        seed: int = 0,
        **kwargs,
    ) -> None:
        self.generator = TorchScriptGenerator(model_file, metadata_file)
        self.num_samples = num_samples
        self.seed = seed
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output(IMAGES)

    def compute(self, op_input, op_output, context) -> None:
        op_output.emit([_image(image) for image in self.generator.sample(self.num_samples, self.seed)], IMAGES)


class HarmonisationOperator(Operator):
    """Emits the ConSinGAN harmonisation of the image at ``input_path`` (injected at ``start_stage`` of the trained
    bundle at ``bundle_dir``, which needs ``models/model.pt``), on that image's grid."""

    def __init__(
        self,
        fragment: Fragment,
        *args,
        bundle_dir: str | Path,
        input_path: str | Path,
        start_stage: int = 1,
        seed: int = 0,
        **kwargs,
    ) -> None:
        self.bundle = BundleGenerator(bundle_dir)
        self.input_path = input_path
        self.start_stage = start_stage
        self.seed = seed
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output(IMAGES)

    def compute(self, op_input, op_output, context) -> None:
        image, affine = self.bundle.harmonise(self.input_path, self.start_stage, self.seed)
        op_output.emit([_image(image, affine, self.bundle.settings["intensity_range"])], IMAGES)


class ImageWriterOperator(Operator):
    """Writes the received ``images`` to ``output_dir`` as ``<prefix>0000.nii.gz`` (3D, in ``intensity_range``
    units with ``affine``) or ``.png`` (2D); refuses a folder that already holds such files unless ``overwrite``."""

    def __init__(
        self,
        fragment: Fragment,
        *args,
        output_dir: str | Path,
        prefix: str = "sample_",
        overwrite: bool = False,
        **kwargs,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.prefix = prefix
        self.overwrite = overwrite
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(IMAGES)

    def compute(self, op_input, op_output, context) -> None:
        images = op_input.receive(IMAGES)
        folder = check_output_dir(self.output_dir, self.overwrite, (f"{self.prefix}*",), "written images", False)
        remove_recorded(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for index, image in enumerate(images):
            meta = image.metadata()
            written.append(write_image(torch.from_numpy(image.asnumpy()), folder / f"{self.prefix}{index:04d}",
                                       meta["affine"], meta["intensity_range"]))  # fmt: skip
        record_outputs(folder, written)
