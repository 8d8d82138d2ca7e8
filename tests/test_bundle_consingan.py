"""End to end: the ConSinGAN bundle through ``python -m monai.bundle`` as a user runs it, on tiny images."""

import os
import shutil
import signal
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, assert_ok, read_model, run_bundle, write_scan
from PIL import Image

from medgan.networks import stages_in_state_dict

TINY = [
    "--num_scales", "3", "--max_size", "24", "--min_size", "8", "--iterations_per_stage", "4",
    "--num_features", "4", "--num_layers", "2", "--d_steps", "1", "--g_steps", "1",
]  # fmt: skip
pytestmark = pytest.mark.slow
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    copy = tmp_path_factory.mktemp("bundle") / "consingan"
    shutil.copytree(REPO_ROOT / "bundles" / "consingan", copy, ignore=shutil.ignore_patterns("models", "output"))
    return copy


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """A 22 x 26 x 18 NIfTI 'scan' with 2 mm voxels and an offset origin."""
    return write_scan(tmp_path_factory.mktemp("data") / "scan.nii.gz")


@pytest.fixture(scope="module")
def trained(bundle_dir, volume, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    process = assert_ok(run_bundle("run", "training", "--config_file", bundle_dir / "configs/train.json",
                        "--image", volume, "--output_dir", out, *TINY))  # fmt: skip
    return out, process


def test_training_writes_model_checkpoints_previews_and_plot(trained):
    out, process = trained
    assert (out / "model.pt").is_file() and (out / "loss.png").is_file()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["stage_0.png", "stage_1.png", "stage_2.png"]
    assert list((out / "checkpoints").glob("checkpoint_*.pt"))
    model, meta = read_model(out)
    assert meta["bundle"] == "consingan" and len(meta["settings"]["stage_shapes"]) == 3
    assert stages_in_state_dict(model) == meta["settings"]["num_stages"] == 3


def test_inference_writes_volumes_on_the_input_grid(bundle_dir, trained, volume, tmp_path):
    out, _ = trained
    assert_ok(run_bundle("run", "inferring", "--config_file", bundle_dir / "configs/inference.json", "--ckpt_path",
              out / "model.pt", "--output_dir", tmp_path / "gen", "--num_samples", 2))  # fmt: skip
    files = sorted((tmp_path / "gen").glob("sample_*.nii.gz"))
    assert len(files) == 2 and (tmp_path / "gen" / "samples.png").is_file()
    generated, source = nib.load(files[0]), nib.load(volume)
    finest = read_model(out)[1]["settings"]["stage_shapes"][-1]
    assert list(generated.shape) == finest
    # the generated grid covers the input's field of view: same first voxel corner and far corner in world space
    for gen_corner, src_corner in [((-0.5,) * 3, (-0.5,) * 3), (np.array(finest) - 0.5, np.array(source.shape) - 0.5)]:
        world_gen = generated.affine @ np.append(gen_corner, 1)
        world_src = source.affine @ np.append(src_corner, 1)
        np.testing.assert_allclose(world_gen, world_src, atol=1e-4)
    data = generated.get_fdata()
    assert data.max() > 100  # intensities back in the input's units, not [-1, 1]


def test_retargeting_and_harmonisation(bundle_dir, trained, volume, tmp_path):
    out, _ = trained
    common = ["--config_file", bundle_dir / "configs/inference.json", "--ckpt_path", out / "model.pt"]
    assert_ok(run_bundle("run", "inferring", *common, "--output_dir", tmp_path / "big", "--num_samples", 1,
              "--output_shape", "[30,20,24]"))  # fmt: skip
    assert nib.load(tmp_path / "big" / "sample_0000.nii.gz").shape == (30, 20, 24)
    assert_ok(run_bundle("run", "inferring", *common, "--output_dir", tmp_path / "harm", "--num_samples", 2,
              "--input_image", volume, "--start_stage", 1))  # fmt: skip
    assert len(list((tmp_path / "harm").glob("sample_*.nii.gz"))) == 2


def test_export_to_torchscript(bundle_dir, trained):
    out, _ = trained
    (bundle_dir / "models").mkdir(exist_ok=True)
    for name in ("model.pt", "model_settings.json"):
        shutil.copy(out / name, bundle_dir / "models" / name)
    assert_ok(run_bundle("ckpt_export", "network_def", "--filepath", "models/model.ts", "--ckpt_file",
                         "models/model.pt", "--meta_file", "configs/metadata.json", "--config_file",
                         "configs/inference.json", cwd=bundle_dir))  # fmt: skip
    exported = torch.jit.load(str(bundle_dir / "models" / "model.ts"))
    coarsest, finest = exported.stage_shapes[0].tolist(), exported.stage_shapes[-1].tolist()
    assert exported(torch.randn(2, 1, *coarsest)).shape == (2, 1, *finest)


def test_2d_training_on_a_png(bundle_dir, tmp_path):
    image = (np.add.outer(np.arange(40), np.arange(30)) % 17 * 15).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "slice.png")
    assert_ok(run_bundle("run", "--config_file", bundle_dir / "configs/train.json", "--image", tmp_path / "slice.png",
              "--spatial_dims", 2, "--output_dir", tmp_path / "out", *TINY))  # fmt: skip
    assert_ok(run_bundle("run", "inferring", "--config_file", bundle_dir / "configs/inference.json", "--ckpt_path",
              tmp_path / "out" / "model.pt", "--output_dir", tmp_path / "gen", "--num_samples", 1))  # fmt: skip
    assert Image.open(tmp_path / "gen" / "sample_0000.png").size == (18, 24)  # (W, H) of the finest stage


def test_killed_run_resumes_mid_stage(bundle_dir, volume, tmp_path):
    out = tmp_path / "out"
    args = ["run", "training", "--config_file", bundle_dir / "configs/train.json", "--image", volume,
            "--output_dir", out, *TINY, "--iterations_per_stage", 40, "--save_every_iterations", 5]  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "monai.bundle", *map(str, args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while not list((out / "checkpoints").glob("checkpoint_*.pt")) and time.time() < deadline:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    checkpoints = sorted(int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("checkpoint_*.pt"))
    assert checkpoints and checkpoints[-1] < 120, "the run finished before it could be killed"
    resumed = assert_ok(run_bundle(*args))
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert not list(out.rglob("*.tmp"))
    assert len(read_model(out)[1]["settings"]["stage_shapes"]) == 3
    assert int(open(out / "losses.csv").read().splitlines()[-1].split(",")[0]) == 120


@pytest.mark.parametrize(
    "case, extra, message",
    [
        ("small", ["--min_size", "30"], "min_size"),
        ("scales", ["--num_scales", "40"], "num_scales"),
        ("active", ["--active_scales", "5"], "active_scales"),
        ("4d", [], "4D image"),
        ("rgb", ["--spatial_dims", "2"], "channel"),
        ("empty", [], "empty"),
        ("nan", [], "NaN"),
        ("missing", [], "does not exist"),
    ],
)
def test_bad_input_is_refused_in_one_sentence(bundle_dir, volume, tmp_path, case, extra, message):
    image = volume
    if case == "4d":
        image = tmp_path / "4d.nii.gz"
        nib.save(nib.Nifti1Image(RNG.random((20, 20, 20, 3)).astype(np.float32), np.eye(4)), image)
    elif case == "rgb":
        image = tmp_path / "rgb.png"
        Image.fromarray((RNG.random((30, 30, 3)) * 255).astype(np.uint8)).save(image)
    elif case in ("empty", "nan"):
        data = np.zeros((20, 20, 20), np.float32)
        if case == "nan":
            data = RNG.random((20, 20, 20)).astype(np.float32)
            data[3, 3, 3] = np.nan
        image = tmp_path / f"{case}.nii.gz"
        nib.save(nib.Nifti1Image(data, np.eye(4)), image)
    elif case == "missing":
        image = tmp_path / "nothing.nii.gz"
    out = tmp_path / "out"
    process = run_bundle("run", "training", "--config_file", bundle_dir / "configs/train.json", "--image", image,
                     "--output_dir", out, *TINY, *extra)  # fmt: skip
    assert process.returncode != 0
    errors = [line for line in process.stderr.splitlines() if line.startswith("medgan:")]
    assert len(errors) == 1 and message in errors[0], process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    assert not (out / "checkpoints").exists()
