"""The MONAI Label app (``apps/monailabel``) in a real MONAI Label server on 127.0.0.1, called through its REST
``/infer`` endpoint: ConSinGAN harmonisation of a study and a random sample, and a DCGAN sample (the sampling task
serves any bundle), from tiny trained bundles."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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


@pytest.fixture(scope="module")
def server(tmp_path_factory, bundle, scan, dcgan):
    """``monailabel start_server`` with the app (copied: the server creates folders in its app) on a free port."""
    app = tmp_path_factory.mktemp("app") / "monailabel"
    shutil.copytree(REPO / "apps" / "monailabel", app, ignore=shutil.ignore_patterns("logs", "model", "bin", "lib"))
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app), "--studies", str(scan.parent),
         "--conf", "bundles", f"{bundle},{dcgan}", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env(), cwd=app,
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
