"""MONAI Label app serving medgan bundles: ``<name>_sample`` (a new random sample, no input image) for every bundle
given, and for a ConSinGAN bundle also ``<name>_harmonise`` (the user's image injected at a chosen stage, through
MONAI Label's bundle infer task).

    monailabel start_server --app apps/monailabel --studies /path/to/images --conf bundles /path/consingan,/path/dcgan

``--conf bundles`` is a comma-separated list of trained bundle folders (each with ``models/model.pt`` and
``models/model_settings.json``), e.g. fetched with ``python -m monai.bundle download``; ``--conf bundle`` (one
folder) is the same; the default is ``bundles/consingan`` of this repository. ``--conf start_stage`` sets
ConSinGAN's default injection stage (1); ``--conf cors_origins http://host:port,...`` the browser origins answered
cross-origin (none by default). See the README, "Use in MONAI Label / MONAI Deploy".

The server it runs in is read-only (uploads, deletes, label saves, model replacement get 403), answers cross-origin
requests only from the configured origins, infers only on images of the datastore named by id, and returns medgan's
input errors as HTTP 422 with their sentence (medgan.monai_label).
"""

from __future__ import annotations

from pathlib import Path

from monailabel.app import app as server
from monailabel.config import settings
from monailabel.interfaces.app import MONAILabelApp

import medgan
from medgan.monai_label import (
    ConSinGANHarmonisationTask,
    SamplingTask,
    bad_input_as_http_error,
    check_infer_request,
    lock_down,
)


class MedGANApp(MONAILabelApp):
    """The app: a sampling task per bundle, and harmonisation for ConSinGAN bundles."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        listed = (
            conf.get("bundles")
            or conf.get("bundle")
            or str(Path(app_dir).resolve().parents[1] / "bundles" / "consingan")
        )
        self.bundle_dirs = [Path(folder.strip()) for folder in listed.split(",") if folder.strip()]
        self.cors_origins = [origin.strip() for origin in conf.get("cors_origins", "").split(",") if origin.strip()]
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="medgan",
            description="Generative models from medgan bundles: random samples, ConSinGAN harmonisation",
            version=medgan.__version__,
        )

    def init_infers(self) -> dict:
        """``<name>_sample`` for every bundle, and ``<name>_harmonise`` too for a ConSinGAN bundle."""
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

    def server_mode(self, mode: bool) -> None:
        """MONAI Label calls this as the server starts: lock the server down (read-only, CORS only for the origins of
        ``--conf cors_origins`` and ``MONAI_LABEL_CORS_ORIGINS``) before it answers any request."""
        super().server_mode(mode)
        if mode:
            origins = [*self.cors_origins, *settings.MONAI_LABEL_CORS_ORIGINS]
            lock_down(server, settings.MONAI_LABEL_API_STR, origins)

    def infer(self, request: dict, datastore=None) -> dict:
        """MONAI Label's inference, only on an image of the datastore and with no file named in the parameters; a
        medgan input error comes back as HTTP 422 with its sentence."""
        check_infer_request(request, (datastore or self.datastore()).list_images())
        with bad_input_as_http_error():
            return super().infer(request, datastore)
