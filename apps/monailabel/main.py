"""MONAI Label app serving medgan bundles: ``<name>_sample`` (a new random sample, no input image) for every bundle
given, and for a ConSinGAN bundle also ``<name>_harmonise`` (the user's image injected at a chosen stage, through
MONAI Label's bundle infer task).

    monailabel start_server --app apps/monailabel --studies /path/to/images --conf bundles /path/consingan,/path/dcgan

``--conf bundles`` is a comma-separated list of trained bundle folders (each with ``models/model.pt`` and
``models/model_settings.json``), e.g. fetched with ``python -m monai.bundle download``; ``--conf bundle`` (one
folder) is the same; the default is ``bundles/consingan`` of this repository. ``--conf start_stage`` sets
ConSinGAN's default injection stage (1). See the README, "Use in MONAI Label / MONAI Deploy".
"""

from __future__ import annotations

from pathlib import Path

from monailabel.interfaces.app import MONAILabelApp

import medgan
from medgan.monai_label import ConSinGANHarmonisationTask, SamplingTask


class MedGANApp(MONAILabelApp):
    """The app: a sampling task per bundle, and harmonisation for ConSinGAN bundles."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        listed = (
            conf.get("bundles")
            or conf.get("bundle")
            or str(Path(app_dir).resolve().parents[1] / "bundles" / "consingan")
        )
        self.bundle_dirs = [Path(folder.strip()) for folder in listed.split(",") if folder.strip()]
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="medgan",
            description="Generative models from medgan bundles: random samples, ConSinGAN harmonisation",
            version=medgan.__version__,
        )

    def init_infers(self) -> dict:
        start_stage = int(self.conf.get("start_stage", 1))
        infers = {}
        for bundle_dir in self.bundle_dirs:
            sampling = SamplingTask(bundle_dir)
            infers[f"{sampling.bundle.name}_sample"] = sampling
            if sampling.bundle.single_image:
                infers[f"{sampling.bundle.name}_harmonise"] = ConSinGANHarmonisationTask(
                    bundle_dir, self.conf, start_stage
                )
        return infers
