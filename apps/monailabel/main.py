"""MONAI Label app serving medgan's ConSinGAN bundle: ``consingan_harmonise`` (the user's image injected at a chosen
stage, through MONAI Label's bundle infer task) and ``consingan_sample`` (a new random sample, no input image).

    monailabel start_server --app apps/monailabel --studies /path/to/images --conf bundle /path/to/consingan

``--conf bundle`` is a trained ConSinGAN bundle folder (with ``models/model.pt``), e.g. one fetched with
``python -m monai.bundle download``; it defaults to ``bundles/consingan`` of this repository. ``--conf start_stage``
sets the default injection stage (1). See the README, "Use in MONAI Label / MONAI Deploy".
"""

from __future__ import annotations

from pathlib import Path

from monailabel.interfaces.app import MONAILabelApp

import medgan
from medgan.monai_label import ConSinGANHarmonisationTask, ConSinGANSamplingTask


class MedGANApp(MONAILabelApp):
    """The app: two infer tasks on one ConSinGAN bundle."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        self.bundle_dir = Path(conf.get("bundle") or Path(app_dir).resolve().parents[1] / "bundles" / "consingan")
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="medgan",
            description="Generative models from medgan bundles: ConSinGAN harmonisation and sampling",
            version=medgan.__version__,
        )

    def init_infers(self) -> dict:
        start_stage = int(self.conf.get("start_stage", 1))
        return {
            "consingan_harmonise": ConSinGANHarmonisationTask(self.bundle_dir, self.conf, start_stage),
            "consingan_sample": ConSinGANSamplingTask(self.bundle_dir),
        }
