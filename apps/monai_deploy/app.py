"""Example MONAI Deploy application for a trained ConSinGAN bundle: generated samples from the exported generator
and the harmonisation of an input image, written as NIfTI (3D) or PNG (2D).

    python apps/monai_deploy/app.py -m BUNDLE -i IMAGE -o OUTPUT [--num_samples 4] [--start_stage 1] [--seed 0]

``-m`` is the bundle folder (``models/model.ts``, ``models/model.pt``, ``configs/metadata.json``,
``configs/inference.json``), ``-i`` the image to harmonise, ``-o`` the folder that receives ``samples/`` and
``harmonised/``. ``HOLOSCAN_MODEL_PATH``, ``HOLOSCAN_INPUT_PATH`` and ``HOLOSCAN_OUTPUT_PATH`` may stand in for
``-m``, ``-i`` and ``-o``, as in every MONAI Deploy application. Needs ``monai-deploy-app-sdk`` (Holoscan).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from holoscan.conditions import CountCondition
from monai.deploy.core import Application, init_app_context

from medgan.deploy.operators import GeneratorOperator, HarmonisationOperator, ImageWriterOperator


def app_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This app's own options, and the rest of ``argv`` for the SDK's parser (``-m``, ``-i``, ``-o``, ...)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--num_samples", type=int, default=4)
    parser.add_argument("--start_stage", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_known_args(argv)


class ConSinGANDeployApp(Application):
    """Sampler -> writer (``samples/``) and harmoniser -> writer (``harmonised/``), each source run once."""

    def __init__(self, app_options: argparse.Namespace, sdk_argv: list[str]) -> None:
        super().__init__(sdk_argv[:1])  # Holoscan's own parser gets no options: they are the SDK's and this app's
        self.app_options = app_options
        self.sdk_argv = sdk_argv

    def compose(self) -> None:
        context = init_app_context(self.sdk_argv)
        bundle, output = Path(context.model_path), Path(context.output_path)
        sampler = GeneratorOperator(
            self, CountCondition(self, 1), name="sampler", model_file=bundle / "models" / "model.ts",
            metadata_file=bundle / "configs" / "metadata.json", num_samples=self.app_options.num_samples,
            seed=self.app_options.seed,
        )  # fmt: skip
        harmoniser = HarmonisationOperator(
            self, CountCondition(self, 1), name="harmoniser", bundle_dir=bundle, input_path=context.input_path,
            start_stage=self.app_options.start_stage, seed=self.app_options.seed,
        )  # fmt: skip
        sample_writer = ImageWriterOperator(self, name="sample_writer", output_dir=output / "samples")
        harmonised_writer = ImageWriterOperator(
            self, name="harmonised_writer", output_dir=output / "harmonised", prefix="harmonised_"
        )
        self.add_flow(sampler, sample_writer, {("images", "images")})
        self.add_flow(harmoniser, harmonised_writer, {("images", "images")})


if __name__ == "__main__":
    options, rest = app_options(sys.argv)
    ConSinGANDeployApp(options, rest).run()
