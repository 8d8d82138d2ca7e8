"""The MONAI Label app (``apps/monailabel``) in a real MONAI Label server on 127.0.0.1, called through its REST
``/infer`` endpoint: ConSinGAN harmonisation of a study and a random sample, and a DCGAN sample (the sampling task
serves any bundle), from tiny trained bundles; and the server's lock-down: every write refused (403) with nothing
written, ``/infer`` only on datastore images (400), medgan's input errors as 422 with their sentence, and CORS
answers only for the configured origins."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import SCAN_SHAPE
from helpers import assert_ok, bundle_command, bundle_copy, env, run_command, write_pngs

from medgan.inference import resampled_affine

pytest.importorskip(
    "monailabel", reason='monailabel is an optional extra: pip install -e ".[monailabel]" to run the MONAI Label test'
)
requests = pytest.importorskip("requests")  # a monailabel dependency

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 240
VIEWER = "http://viewer.example:3000"
FOREIGN = "http://evil.example"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def trained(tiny_consingan) -> tuple[Path, Path]:
    """The session's tiny ConSinGAN bundle and the scan it was trained on, the only study of the datastore."""
    return tiny_consingan


@pytest.fixture(scope="module")
def bundle(trained) -> Path:
    return trained[0]


@pytest.fixture(scope="module")
def scan(trained) -> Path:
    return trained[1]


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory) -> Path:
    """A copy of the DCGAN bundle with a tiny 2D model in ``models/``."""
    root = tmp_path_factory.mktemp("tiny_dcgan")
    bundle = bundle_copy("dcgan", root)
    assert_ok(run_command(bundle_command("run", "training", config_file=bundle / "configs" / "train.json",
                                         dataset_dir=write_pngs(root / "pngs", 4), num_features=2, batch_size=4,
                                         max_epochs=1)))  # fmt: skip
    return bundle


@contextmanager
def running_server(root: Path, studies: Path, bundles: list[Path], *conf: str):
    """``monailabel start_server`` with the app (copied under ``root``: the server creates folders in its app) on a
    free port, ``--conf bundles`` and the ``conf`` pairs given, ``MONAI_LABEL_CORS_ORIGINS`` unset (a value crashes
    MONAI Label 0.8.5's start_server); yields its URL."""
    app = root / "monailabel"
    shutil.copytree(REPO / "apps" / "monailabel", app, ignore=shutil.ignore_patterns("logs", "model", "bin", "lib"))
    environment = {key: value for key, value in env().items() if key != "MONAI_LABEL_CORS_ORIGINS"}
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(studies),
         "--conf", "bundles", ",".join(map(str, bundles)), *conf, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=app,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_TIMEOUT_S
    try:
        while True:
            try:
                if requests.get(f"{url}/info/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            log.seek(0)
            assert process.poll() is None and time.time() < deadline, f"the server did not start:\n{log.read()[-3000:]}"
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, bundle, scan, dcgan):
    """The server on both bundles, no CORS origin configured."""
    with running_server(tmp_path_factory.mktemp("app"), scan.parent, [bundle, dcgan]) as url:
        yield url


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory, bundle, scan):
    """The server on the ConSinGAN bundle with one CORS origin, ``VIEWER``."""
    with running_server(tmp_path_factory.mktemp("app"), scan.parent, [bundle], "--conf", "cors_origins", VIEWER) as url:
        yield url


def infer(url: str, model: str, tmp_path: Path, **params) -> nib.Nifti1Image:
    """POST ``/infer/<model>?image=scan&output=image`` and read the returned volume."""
    response = requests.post(f"{url}/infer/{model}", params={"image": "scan", "output": "image"},
                             files={"params": (None, json.dumps(params))}, timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text[-2000:]
    path = tmp_path / f"{model}_{len(list(tmp_path.iterdir()))}.nii.gz"
    path.write_bytes(response.content)
    return nib.load(path)


def settings(bundle: Path) -> dict:
    return json.loads((bundle / "models" / "model_settings.json").read_text())["settings"]


def test_info_lists_the_tasks_of_every_bundle(server):
    models = requests.get(f"{server}/info/", timeout=30).json()["models"]
    assert {"consingan_harmonise", "consingan_sample", "dcgan_sample"} <= set(models)
    assert models["consingan_harmonise"]["config"]["start_stage"] == 1


def test_harmonisation_returns_the_study_grid_in_its_units(server, bundle, scan, tmp_path):
    result = infer(server, "consingan_harmonise", tmp_path, start_stage=1, seed=3)
    assert result.shape == SCAN_SHAPE
    np.testing.assert_allclose(result.affine, nib.load(scan).affine, atol=1e-4)
    data = result.get_fdata()
    low, high = settings(bundle)["intensity_range"]
    assert np.isfinite(data).all() and data.std() > 0
    assert low - 1e-3 <= data.min() and data.max() <= high + 1e-3
    assert data.max() > 1.5  # in the study's intensity units, not the network's [-1, 1]
    again = infer(server, "consingan_harmonise", tmp_path, start_stage=1, seed=3).get_fdata()
    np.testing.assert_array_equal(again, data)  # same request, same volume


def test_sampling_needs_no_input_and_lands_on_the_training_field_of_view(server, bundle, tmp_path):
    stored = settings(bundle)
    finest = stored["stage_shapes"][-1]
    result = infer(server, "consingan_sample", tmp_path, seed=1)
    assert list(result.shape) == finest
    expected = resampled_affine(stored["affine"], stored["image_shape"], finest)
    np.testing.assert_allclose(result.affine, expected, atol=1e-4)
    other = infer(server, "consingan_sample", tmp_path, seed=2).get_fdata()
    assert not np.array_equal(other, result.get_fdata())  # the seed picks the sample


def test_a_multi_image_bundle_is_sampled_too(server, tmp_path):
    result = infer(server, "dcgan_sample", tmp_path, seed=1)
    data = result.get_fdata()
    assert result.shape[:2] == (64, 64) and np.isfinite(data).all() and data.std() > 0
    assert -1 - 1e-6 <= data.min() and data.max() <= 1 + 1e-6  # a multi-image model's range
    np.testing.assert_array_equal(infer(server, "dcgan_sample", tmp_path, seed=1).get_fdata(), data)
    assert not np.array_equal(infer(server, "dcgan_sample", tmp_path, seed=2).get_fdata(), data)


def refusal(response: requests.Response, status: int, *phrases: str) -> str:
    """The sentence of a refused request, checked: HTTP ``status`` and every phrase in its ``detail``."""
    assert response.status_code == status, response.text[-2000:]
    detail = response.json()["detail"]
    assert all(phrase in detail for phrase in phrases), detail
    return detail


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_an_upload_under_a_dotted_name_is_refused_and_writes_nothing(server, scan):
    name = f"ESCAPED_{uuid.uuid4().hex}"
    studies = scan.parent
    before = files_under(studies)
    response = requests.put(f"{server}/datastore/image", params={"image": f"../../../{name}"},
                            files={"file": ("escape.py", b"print('escaped')\n")}, timeout=30)  # fmt: skip
    refusal(response, 403, "PUT /datastore/image is refused", "read-only", "copying them into its --studies folder")
    assert not (studies.parents[2] / f"{name}.py").exists()  # where MONAI Label's own datastore would write it
    assert list(studies.parents[2].rglob(f"{name}*")) == []  # nor anywhere else, in or outside the studies
    assert files_under(studies) == before


def test_deleting_a_study_is_refused_and_keeps_it(server, scan):
    content = scan.read_bytes()
    refusal(requests.delete(f"{server}/datastore/image", params={"id": "scan"}, timeout=30), 403,
            "DELETE /datastore/image is refused", "read-only")  # fmt: skip
    assert scan.read_bytes() == content
    assert "scan" in requests.get(f"{server}/datastore/", params={"output": "all"}, timeout=30).json()["objects"]


def test_saving_a_label_is_refused_and_writes_none(server, scan):
    before = files_under(scan.parent)
    response = requests.put(f"{server}/datastore/label", params={"image": "scan"},
                            files={"label": ("scan.nii.gz", scan.read_bytes())}, timeout=30)  # fmt: skip
    refusal(response, 403, "PUT /datastore/label is refused", "read-only")
    assert files_under(scan.parent) == before


def test_replacing_a_model_is_refused_and_keeps_model_pt(server, bundle):
    model = bundle / "models" / "model.pt"
    content = model.read_bytes()
    response = requests.put(f"{server}/model/consingan_harmonise", files={"file": ("model.pt", b"not a model")},
                            timeout=30)  # fmt: skip
    refusal(response, 403, "PUT /model/consingan_harmonise is refused", "replacing its bundle's models/model.pt")
    assert model.read_bytes() == content


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/model/consingan_sample"), ("DELETE", "/datastore/label"), ("PUT", "/datastore/image/info"),
     ("PUT", "/session/"), ("POST", "/batch/infer/consingan_sample"), ("POST", "/train/"), ("POST", "/scoring/"),
     ("POST", "/reload")],
)  # fmt: skip
def test_every_other_write_is_refused(server, bundle, method, path):
    model = bundle / "models" / "model.pt"
    content = model.read_bytes()
    refusal(requests.request(method, f"{server}{path}", timeout=30), 403, f"{method} {path} is refused", "read-only")
    assert model.read_bytes() == content


def refused_infer(url: str, image: str | None, params: dict, files: dict | None = None) -> requests.Response:
    """POST ``/infer/consingan_harmonise`` with ``image`` (a query value; None: none) and ``params``."""
    query = {"output": "image"} if image is None else {"image": image, "output": "image"}
    return requests.post(f"{url}/infer/consingan_harmonise", params=query,
                         files={"params": (None, json.dumps(params)), **(files or {})}, timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    ("image", "what"),
    [("absolute", "it is a file path"), ("../studies/scan", "it is a file path"),
     ("no_such_scan", "it is not an image id of the datastore")],
)  # fmt: skip
def test_infer_reads_only_images_of_the_datastore(server, scan, image, what):
    image = str(scan) if image == "absolute" else image
    refusal(refused_infer(server, image, {"seed": 1}), 400, f"image {image!r} is refused", what,
            "infers only on its datastore's own images")  # fmt: skip


def test_infer_refuses_an_uploaded_image(server, scan):
    response = refused_infer(server, None, {"seed": 1}, {"file": ("upload.nii.gz", scan.read_bytes())})
    refusal(response, 400, "is refused: it is a file path", "never on a server path or an upload")


@pytest.mark.parametrize(
    "params",
    [{"image": "absolute"}, {"seed": 1, "model_filename": "../../../models/model.pt"},
     {"seed": 1, "options": {"reference": ["~/scan.nii.gz"]}}],
)  # fmt: skip
def test_infer_refuses_parameters_that_name_files(server, scan, params):
    params = {key: str(scan) if value == "absolute" else value for key, value in params.items()}
    key = next(key for key in params if key != "seed")
    response = refused_infer(server, "scan", params)
    if key == "image":  # a params "image" replaces the query's, and is checked as one
        refusal(response, 400, f"image {str(scan)!r} is refused: it is a file path")
    else:
        refusal(response, 400, f"{key} ", "is refused: it names a file", "takes no file paths in its parameters")


def test_infer_refuses_to_save_its_result_into_the_datastore(server, scan):
    before = files_under(scan.parent)
    refusal(refused_infer(server, "scan", {"seed": 1, "save_label": True}), 403, "save_label is refused", "read-only")
    assert files_under(scan.parent) == before


def test_a_medgan_input_error_returns_its_sentence_as_422(server):
    detail = refusal(refused_infer(server, "scan", {"start_stage": 99, "seed": 1}), 422, "medgan: start_stage 99")
    assert detail.startswith("medgan: start_stage 99 is outside 0..")
    assert detail.endswith("pick a built stage, or 3 for no noise at all.")


def cors_answer(url: str, origin: str) -> list[dict]:
    """The CORS headers (lower-cased names) the server gives ``origin``: on a GET and on a POST preflight."""
    simple = requests.get(f"{url}/info/", headers={"Origin": origin}, timeout=30)
    preflight = requests.options(f"{url}/infer/consingan_sample", timeout=30,
                                 headers={"Origin": origin, "Access-Control-Request-Method": "POST"})  # fmt: skip
    return [{k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")} for r in
            (simple, preflight)]  # fmt: skip


def test_a_foreign_origin_gets_no_cors_answer_by_default(server):
    for headers in cors_answer(server, FOREIGN):
        assert "access-control-allow-origin" not in headers and "access-control-allow-credentials" not in headers


def test_only_a_configured_origin_gets_a_cors_answer(viewer_server):
    for headers in cors_answer(viewer_server, VIEWER):
        assert headers["access-control-allow-origin"] == VIEWER
        assert headers["access-control-allow-credentials"] == "true"
    for headers in cors_answer(viewer_server, FOREIGN):
        assert headers.get("access-control-allow-origin") not in (FOREIGN, "*")
