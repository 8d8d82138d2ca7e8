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

The server answers without authentication unless MONAI Label's is turned on, so the app locks it down:

- :func:`lock_down` makes the FastAPI server read-only (:class:`ReadOnlyMiddleware`: uploads, deletes, label saves,
  model replacement, training, batch inference and scoring get 403 and a sentence) and replaces MONAI Label's CORS
  middleware (with no origin configured it answers every origin, with credentials) by one for the configured origins
  only, or none.
- :func:`check_infer_request` lets ``/infer`` read only images of the datastore, named by id, and refuses parameters
  that name files and ``save_label``; :func:`bad_input_as_http_error` returns medgan's
  :class:`~medgan.errors.BadInputError` sentence as HTTP 422 instead of a bare 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import FastAPI, HTTPException
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask
from monailabel.tasks.infer.bundle import BundleInferTask
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from medgan.data.single_image import load_single_image
from medgan.errors import find_bad_input
from medgan.inference import resampled_affine
from medgan.serving import BundleGenerator, bundle_model_file, consingan_generate, to_volume

START_STAGE = "start_stage"
SEED = "seed"
PRED = "pred"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = ("/infer/", "/activelearning/", "/auth/")  # inference, the next study to open, the login token
FILE_MARKS = ("/", "\\", "..")


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


def write_refusal(method: str, path: str) -> str | None:
    """The sentence refusing ``method path`` (a route path of MONAI Label's REST API) on a read-only server, or None
    for a read (GET, HEAD, OPTIONS) or a POST that writes nothing (inference, next study, login)."""
    if method in READ_METHODS or (method == "POST" and path.startswith(READ_POSTS)):
        return None
    return (
        f"{method} {path} is refused: this medgan MONAI Label server is read-only (no uploads, deletes, label "
        "saves, model replacement, training, batch inference or scoring); add studies by copying them into its "
        "--studies folder, and replace a model by replacing its bundle's models/model.pt and restarting the server."
    )


def route_path(scope: Scope, api_prefix: str) -> str:
    """The request's path as MONAI Label's routes name it: without the server's root path and API prefix."""
    path = scope["path"]
    for prefix in (scope.get("root_path", ""), api_prefix):
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
    return path


class ReadOnlyMiddleware:
    """ASGI middleware: every request that would change the server's files (see :func:`write_refusal`) gets HTTP 403
    with the sentence as ``detail``, as FastAPI's errors have it; the others pass to the server."""

    def __init__(self, app: ASGIApp, api_prefix: str = "") -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = None
        if scope["type"] == "http":
            refusal = write_refusal(scope["method"], route_path(scope, self.api_prefix))
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await JSONResponse({"detail": refusal}, status_code=403)(scope, receive, send)


def cors_middleware(origins: Sequence[object]) -> list[Middleware]:
    """MONAI Label's CORS middleware for ``origins``, written as browsers send them (pydantic adds a trailing ``/``
    to ``MONAI_LABEL_CORS_ORIGINS`` that no ``Origin`` header has), or none when no origin is configured."""
    allowed = [str(origin).rstrip("/") for origin in origins]
    if not allowed:
        return []
    return [
        Middleware(
            CORSMiddleware, allow_origins=allowed, allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
        )
    ]


def lock_down(server: FastAPI, api_prefix: str, cors_origins: Sequence[object]) -> None:
    """Make MONAI Label's FastAPI ``server`` read-only and answer cross-origin requests only from ``cors_origins``
    (MONAI Label's own middleware answers every origin, with credentials, when none is configured), also when it is
    already running: its middleware stack is rebuilt. Doing it again changes nothing."""
    others = [entry for entry in server.user_middleware if entry.cls not in (CORSMiddleware, ReadOnlyMiddleware)]
    server.user_middleware = [
        Middleware(ReadOnlyMiddleware, api_prefix=api_prefix),
        *cors_middleware(cors_origins),
        *others,
    ]
    if server.middleware_stack is not None:
        server.middleware_stack = server.build_middleware_stack()


def names_a_file(value: str) -> bool:
    """Whether a request value looks like a file path: it holds ``/``, ``\\`` or ``..``, or starts with ``~``."""
    return value.startswith("~") or any(mark in value for mark in FILE_MARKS)


def file_names(value: object) -> Iterator[str]:
    """The strings in a request value, also inside lists and dicts, that look like file paths."""
    if isinstance(value, str):
        if names_a_file(value):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from file_names(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from file_names(item)


def check_image(image: object, image_ids: Sequence[str]) -> None:
    """Refuse (HTTP 400 with a sentence) an ``/infer`` image that is not one of ``image_ids``, the datastore's (a file
    path, an upload or a session image is not)."""
    if image not in image_ids:
        what = "a file path" if isinstance(image, str) and names_a_file(image) else "not an image id of the datastore"
        raise HTTPException(
            400,
            f"image {image!r} is refused: it is {what}; this server infers only on its datastore's own images, named "
            "by id (GET /datastore/?output=all lists them), never on a server path or an upload.",
        )


def check_parameters(request: Mapping[str, Any]) -> None:
    """Refuse (HTTP 400 with a sentence) an ``/infer`` request with a parameter (other than ``model`` and ``image``)
    that names a file (:func:`names_a_file`), and (HTTP 403) one asking to ``save_label`` into the datastore."""
    for key, value in request.items():
        named = None if key in ("model", "image") else next(file_names(value), None)
        if named is not None:
            raise HTTPException(
                400,
                f"{key} {named!r} is refused: it names a file, and this server's /infer takes no file paths in its "
                "parameters (no value with '/', '\\' or '..', or starting with '~'); give e.g. seed and start_stage.",
            )
    if request.get("save_label"):
        raise HTTPException(
            403, "save_label is refused: this server is read-only and saves no result into its datastore; leave it out."
        )


def check_infer_request(request: Mapping[str, Any], image_ids: Sequence[str]) -> None:
    """Refuse an ``/infer`` request that reads anything but a datastore image or writes into the datastore
    (:func:`check_image`, :func:`check_parameters`)."""
    check_image(request.get("image"), image_ids)
    check_parameters(request)


@contextmanager
def bad_input_as_http_error() -> Iterator[None]:
    """Turn a :class:`~medgan.errors.BadInputError` raised inside (also wrapped by MONAI's config parser) into HTTP
    422 with its sentence, ``medgan: ...``, so the client reads what to change; other errors pass unchanged."""
    try:
        yield
    except Exception as error:
        bad_input = find_bad_input(error)
        if bad_input is None:
            raise
        raise HTTPException(422, f"medgan: {bad_input}") from error
