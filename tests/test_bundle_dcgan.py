"""End-to-end tests of the DCGAN and SNGAN bundles, run as a user runs them: ``python -m monai.bundle ...`` in a
subprocess, on a copy of the bundle folder, with tiny networks and a few small synthetic images (subprocess
settings: tests/helpers.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import (
    REPO_ROOT,
    RUN_TIMEOUT_S,
    assert_bad_input,
    assert_ok,
    bundle_command,
    describe,
    env,
    in_parallel,
    log_of,
    loss_iterations,
    read_model,
    run_bundle,
    run_command,
    tail,
    write_pngs,
    write_volumes,
)
from PIL import Image

from medgan.handlers.run_lock import LOCK_NAME
from medgan.networks import DCGANGenerator
from medgan.output_manifest import MANIFEST

SCHEMA_FILE = REPO_ROOT / "medgan" / "bundle_schema" / "meta_schema_20240725.json"
BUNDLES = ("dcgan", "sngan")
NUM_IMAGES = 8
NUM_SAMPLES = 5
TINY = {  # a network and a run small enough for seconds on a CPU; image_size because sngan's default is 128
    "image_size": 64,
    "num_features": 4,
    "batch_size": 4,
    "save_every": 1,
    "sample_every": 1,
    "num_preview_samples": 4,
}
ITERATIONS_PER_EPOCH = NUM_IMAGES // TINY["batch_size"]
CHECKPOINT_NAME = re.compile(r"^checkpoint_\d+\.pt$")

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------------------------
# running the bundle


def train(bundle_dir: Path, run_id: str | None = "training", **overrides: object) -> subprocess.CompletedProcess:
    """``run training`` (``run`` when ``run_id`` is None) of ``bundle_dir``'s train.json with the tiny settings."""
    run_ids = [] if run_id is None else [run_id]
    config = bundle_dir / "configs" / "train.json"
    return run_bundle("run", *run_ids, config_file=config, **{**TINY, **overrides})


def infer(bundle_dir: Path, ckpt_path: Path, output_dir: Path, **overrides: object) -> subprocess.CompletedProcess:
    config = bundle_dir / "configs" / "inference.json"
    return run_bundle("run", "inferring", config_file=config, ckpt_path=ckpt_path, output_dir=output_dir, **overrides)


def wait_for(condition: Callable[[], object], process: subprocess.Popen, timeout_s: float = RUN_TIMEOUT_S):
    """Poll ``condition`` until it is true (returns its value) or ``process`` has ended (returns None)."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"nothing happened in {timeout_s} s"
        time.sleep(0.005)
    return None


# ---------------------------------------------------------------------------------------------------------------
# files


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: relative path -> (sha256, mtime in ns)."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def changes(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> list[str]:
    """What differs between two snapshots: added, removed and rewritten files."""
    found = [f"added {name}" for name in after.keys() - before.keys()]
    found += [f"removed {name}" for name in before.keys() - after.keys()]
    found += [f"rewrote {name}" for name in before.keys() & after.keys() if before[name] != after[name]]
    return sorted(found)


def stray_checkpoint_files(output_dir: Path) -> list[str]:
    """Anything in ``<output_dir>/checkpoints`` but ``checkpoint_<n>.pt`` and the run's lock file."""
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not CHECKPOINT_NAME.match(p.name) and p.name != LOCK_NAME)


def partial_files(output_dir: Path) -> list[str]:
    """Leftovers of interrupted writes: ``*.tmp`` anywhere, anything in checkpoints/ but ``checkpoint_<n>.pt``."""
    leftovers = {str(p.relative_to(output_dir)) for p in output_dir.rglob("*.tmp")}
    return sorted(leftovers | {f"checkpoints/{name}" for name in stray_checkpoint_files(output_dir)})


def assert_training_outputs(output_dir: Path, bundle: str) -> None:
    expected = ["model.pt", "samples/samples_latest.png", "loss.png", "losses.csv"]
    missing = [name for name in expected if not (output_dir / name).is_file()]
    assert not missing, f"missing {missing} in {sorted(snapshot(output_dir))}"
    checkpoints = [p.name for p in (output_dir / "checkpoints").iterdir() if CHECKPOINT_NAME.match(p.name)]
    assert checkpoints, f"no checkpoints/checkpoint_<n>.pt in {sorted(snapshot(output_dir))}"
    model, meta = read_model(output_dir)
    assert meta["bundle"] == bundle and model.keys() == eager_generator(output_dir / "model.pt").state_dict().keys()


def eager_generator(model_file: Path) -> DCGANGenerator:
    """The generator of a model file, built from the settings file beside it, in eval mode."""
    model, meta = read_model(model_file.parent)
    settings = meta["settings"]
    generator = DCGANGenerator(
        spatial_dims=settings["spatial_dims"],
        image_size=settings["image_size"],
        latent_size=settings["latent_size"],
        out_channels=settings["channels"],
        num_features=settings["num_features"],
    )
    generator.load_state_dict(model)
    return generator.eval()


# ---------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def bundle_dirs(tmp_path_factory) -> dict[str, Path]:
    """A copy of each bundle folder (configs, docs, licence; no models or outputs), so nothing lands in the repo."""
    root = tmp_path_factory.mktemp("bundles")
    copies = {}
    for name in BUNDLES:
        source = REPO_ROOT / "bundles" / name
        copies[name] = root / name
        shutil.copytree(source, copies[name], ignore=shutil.ignore_patterns("models", "output", "__pycache__"))
        (copies[name] / "models").mkdir()
    return copies


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory) -> Path:
    return write_pngs(tmp_path_factory.mktemp("pngs"), NUM_IMAGES)


@pytest.fixture(scope="module")
def nifti_dir(tmp_path_factory) -> Path:
    return write_volumes(tmp_path_factory.mktemp("volumes"), 3)


# fixtures that run the bundle: each does the independent work of both bundles, two processes at a time


@dataclass
class TrainedRun:
    """One bundle trained on the PNGs: ``run training`` for 1 epoch, the same for 2 (resumes), again (no-op)."""

    bundle: str
    bundle_dir: Path
    output_dir: Path
    first: subprocess.CompletedProcess
    resumed: subprocess.CompletedProcess
    repeated: subprocess.CompletedProcess
    before_repeat: dict[str, tuple[str, int]]
    after_repeat: dict[str, tuple[str, int]]

    @property
    def model_file(self) -> Path:
        return self.output_dir / "model.pt"

    def assert_trained(self) -> None:
        assert_ok(self.first)
        assert_ok(self.resumed)


def train_resume_repeat(bundle: str, bundle_dir: Path, data_dir: Path, output_dir: Path) -> TrainedRun:
    first = train(bundle_dir, dataset_dir=data_dir, output_dir=output_dir, max_epochs=1)
    resumed = train(bundle_dir, dataset_dir=data_dir, output_dir=output_dir, max_epochs=2)
    before = snapshot(output_dir)
    repeated = train(bundle_dir, dataset_dir=data_dir, output_dir=output_dir, max_epochs=2)
    return TrainedRun(bundle, bundle_dir, output_dir, first, resumed, repeated, before, snapshot(output_dir))


@pytest.fixture(scope="module")
def trained(bundle_dirs, png_dir, tmp_path_factory) -> dict[str, TrainedRun]:
    """Each bundle trained (default latent size, so the export test can feed it ``randn(2, 100)``)."""
    root = tmp_path_factory.mktemp("trained")
    runs = in_parallel(*[lambda b=b: train_resume_repeat(b, bundle_dirs[b], png_dir, root / b) for b in BUNDLES])
    return dict(zip(BUNDLES, runs))


@dataclass
class InferenceRuns:
    """``run inferring`` into ``folder``; then the same command into a copy of it, and again with ``--overwrite``."""

    folder: Path
    first: subprocess.CompletedProcess
    before: dict[str, tuple[str, int]]  # the first run's files
    refused_folder: Path
    refused: subprocess.CompletedProcess
    overwritten_folder: Path
    overwritten: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def inference_runs(trained, tmp_path_factory) -> dict[str, InferenceRuns]:
    root = tmp_path_factory.mktemp("inference")
    folders = {bundle: root / bundle / "samples" for bundle in BUNDLES}
    firsts = in_parallel(
        *[
            lambda r=r: infer(r.bundle_dir, r.model_file, folders[r.bundle], num_samples=NUM_SAMPLES)
            for r in trained.values()
        ]
    )
    reruns, before = [], {}
    for bundle in BUNDLES:
        folders[bundle].mkdir(parents=True, exist_ok=True)
        before[bundle] = snapshot(folders[bundle])
        for name, extra in (("refused", {}), ("overwritten", {"overwrite": "true"})):
            shutil.copytree(folders[bundle], root / bundle / name)  # copy2: the mtimes too
            run = trained[bundle]
            reruns.append(
                lambda r=run, d=root / bundle / name, e=extra: infer(
                    r.bundle_dir, r.model_file, d, num_samples=NUM_SAMPLES, **e
                )
            )
    results = iter(in_parallel(*reruns))
    return {
        bundle: InferenceRuns(
            folders[bundle],
            first,
            before[bundle],
            root / bundle / "refused",
            next(results),
            root / bundle / "overwritten",
            next(results),
        )
        for bundle, first in zip(BUNDLES, firsts)
    }


@pytest.fixture(scope="module")
def exported(trained) -> dict[str, subprocess.CompletedProcess]:
    """``ckpt_export`` of each trained generator, run as the README says: from the bundle folder, on models/."""

    def export(run: TrainedRun) -> subprocess.CompletedProcess:
        for name in ("model.pt", "model_settings.json"):
            shutil.copy2(run.model_file.with_name(name), run.bundle_dir / "models" / name)
        return run_bundle(
            "ckpt_export",
            "network_def",
            cwd=run.bundle_dir,
            filepath="models/model.ts",
            ckpt_file="models/model.pt",
            meta_file="configs/metadata.json",
            config_file="configs/inference.json",
        )

    return dict(zip(BUNDLES, in_parallel(*[lambda r=trained[b]: export(r) for b in BUNDLES])))


@pytest.fixture(scope="module")
def metadata_checks(bundle_dirs) -> dict[str, subprocess.CompletedProcess]:
    def verify(bundle: str) -> subprocess.CompletedProcess:
        return run_bundle(
            "verify_metadata", meta_file=bundle_dirs[bundle] / "configs" / "metadata.json", filepath=SCHEMA_FILE
        )

    return dict(zip(BUNDLES, in_parallel(*[lambda b=b: verify(b) for b in BUNDLES])))


@dataclass
class VolumeRun:
    """A training on the NIfTI folder and, for a 3D model, inference from it."""

    output_dir: Path
    training: subprocess.CompletedProcess
    samples: Path | None = None
    inference: subprocess.CompletedProcess | None = None


@pytest.fixture(scope="module")
def volume_runs(bundle_dirs, nifti_dir, tmp_path_factory) -> dict[str, VolumeRun]:
    """Each bundle's 3D model (trained through ``run`` with no run id), and dcgan's 2D model, on the volumes."""
    root = tmp_path_factory.mktemp("volume_runs")
    volume_settings = {"spatial_dims": 3, "num_features": 2, "batch_size": 2, "num_preview_samples": 2}

    def train_3d_and_infer(bundle: str) -> VolumeRun:
        output_dir, samples = root / bundle / "out", root / bundle / "samples"
        training = train(
            bundle_dirs[bundle],
            run_id=None,
            dataset_dir=nifti_dir,
            output_dir=output_dir,
            max_epochs=1,
            **volume_settings,
        )
        inference = (
            infer(bundle_dirs[bundle], output_dir / "model.pt", samples, num_samples=2)
            if training.returncode == 0
            else None
        )
        return VolumeRun(output_dir, training, samples, inference)

    def train_2d() -> VolumeRun:
        output_dir = root / "slices" / "out"
        return VolumeRun(
            output_dir, train(bundle_dirs["dcgan"], dataset_dir=nifti_dir, output_dir=output_dir, max_epochs=1)
        )

    calls = [lambda b=b: train_3d_and_infer(b) for b in BUNDLES] + [train_2d]
    return dict(zip([*BUNDLES, "2d_slices"], in_parallel(*calls)))


# ---------------------------------------------------------------------------------------------------------------
# training and resume


@pytest.mark.parametrize("bundle", BUNDLES)
def test_run_training_writes_outputs(trained, bundle):
    run = trained[bundle]
    run.assert_trained()
    assert_training_outputs(run.output_dir, bundle)
    # MONAI's StatsHandler puts every loss term into the log, as often as losses.csv records them
    logged = [line for line in log_of(run.first).splitlines() if "Iter: " in line and " -- loss_d: " in line]
    assert len(logged) == ITERATIONS_PER_EPOCH and "loss_g: " in logged[-1], describe(run.first)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_training_resumes_with_more_epochs(trained, bundle):
    run = trained[bundle]
    run.assert_trained()
    assert "resumed from" not in log_of(run.first), describe(run.first)
    assert "resumed from" in log_of(run.resumed), describe(run.resumed)
    assert loss_iterations(run.output_dir) == list(range(1, 2 * ITERATIONS_PER_EPOCH + 1))


@pytest.mark.parametrize("bundle", BUNDLES)
def test_finished_run_is_not_retrained(trained, bundle):
    run = trained[bundle]
    run.assert_trained()
    assert_ok(run.repeated)
    assert "already finished" in log_of(run.repeated), describe(run.repeated)
    assert "loss_d" not in log_of(run.repeated), f"it trained again\n{describe(run.repeated)}"
    kept = [  # the run's lock names its latest holder: not a result
        name for name in run.before_repeat
        if (name.startswith("checkpoints/") and not name.endswith(LOCK_NAME)) or name == "model.pt"
    ]  # fmt: skip
    assert any(CHECKPOINT_NAME.match(Path(name).name) for name in kept)

    def unchanged(name: str) -> bool:  # the same bytes, or not written at all
        before, after = run.before_repeat[name], run.after_repeat.get(name)
        return after is not None and (before[0] == after[0] or before[1] == after[1])

    assert [name for name in kept if not unchanged(name)] == []
    assert [
        name for name in run.after_repeat.keys() - run.before_repeat.keys() if name.startswith("checkpoints/")
    ] == []


def test_killed_training_resumes(bundle_dirs, png_dir, tmp_path):
    """SIGKILL a run once its first checkpoint exists; the same command resumes it and finishes."""
    output_dir, max_epochs = tmp_path / "out", 10
    overrides = {**TINY, "dataset_dir": png_dir, "output_dir": output_dir, "max_epochs": max_epochs}
    command = bundle_command(
        "run", "training", config_file=bundle_dirs["dcgan"] / "configs" / "train.json", **overrides
    )
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env())
        try:
            wait_for(lambda: any((output_dir / "checkpoints").glob("checkpoint_*.pt")), process)
        finally:
            process.send_signal(signal.SIGKILL)  # a no-op if it has already ended
            process.wait(timeout=60)
    killed_log = (tmp_path / "killed.log").read_text()
    assert process.returncode == -signal.SIGKILL, f"the run ended before it was killed:\n{tail(killed_log)}"

    result = assert_ok(run_command(command))
    assert "resumed from" in log_of(result), describe(result)
    assert_training_outputs(output_dir, "dcgan")
    assert loss_iterations(output_dir) == list(range(1, max_epochs * ITERATIONS_PER_EPOCH + 1))
    assert partial_files(output_dir) == []


def test_kill_during_checkpoint_write_leaves_no_partial_file(bundle_dirs, png_dir, tmp_path):
    """SIGKILL a run while it writes its first checkpoint (default width: ~75 MB, so the write takes a while);
    after the same command has run again, no partial file is left."""
    output_dir = tmp_path / "out"
    overrides = {**TINY, "num_features": 64, "dataset_dir": png_dir, "output_dir": output_dir, "max_epochs": 1}
    command = bundle_command(
        "run", "training", config_file=bundle_dirs["dcgan"] / "configs" / "train.json", **overrides
    )
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    try:
        caught = wait_for(lambda: stray_checkpoint_files(output_dir), process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    if not caught:
        pytest.skip("the run finished its checkpoint write before it could be killed")

    assert_ok(run_command(command))
    assert partial_files(output_dir) == []


# ---------------------------------------------------------------------------------------------------------------
# inference, export, metadata


@pytest.mark.parametrize("bundle", BUNDLES)
def test_inference_writes_samples(trained, inference_runs, bundle):
    trained[bundle].assert_trained()
    runs = inference_runs[bundle]
    assert_ok(runs.first)
    names = [f"sample_{i:04d}.png" for i in range(NUM_SAMPLES)]
    assert sorted(runs.before) == [MANIFEST, *names, "samples.png"]
    for name in names:
        with Image.open(runs.folder / name) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (64, 64))
    with Image.open(runs.folder / "samples.png") as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_inference_refuses_a_folder_with_samples(inference_runs, bundle):
    runs = inference_runs[bundle]
    assert_ok(runs.first)
    message = assert_bad_input(runs.refused, "already holds generated samples")
    assert "--overwrite" in message
    assert changes(runs.before, snapshot(runs.refused_folder)) == []


@pytest.mark.parametrize("bundle", BUNDLES)
def test_inference_overwrite_gives_the_same_samples_for_the_same_seed(inference_runs, bundle):
    runs = inference_runs[bundle]
    assert_ok(runs.first)
    assert_ok(runs.overwritten)
    after = snapshot(runs.overwritten_folder)
    assert after.keys() == runs.before.keys()
    assert [name for name in after if after[name][0] != runs.before[name][0]] == [], "other images for the same seed"
    assert [name for name in after if after[name][1] == runs.before[name][1]] == [], "--overwrite did not rewrite"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_torchscript_export_matches_eager_generator(trained, exported, bundle):
    run = trained[bundle]
    run.assert_trained()
    assert_ok(exported[bundle])
    extra_files = {"metadata.json": "", "inference.json": ""}
    scripted = torch.jit.load(str(run.bundle_dir / "models" / "model.ts"), map_location="cpu", _extra_files=extra_files)
    assert json.loads(extra_files["metadata.json"])["version"]
    assert json.loads(extra_files["inference.json"])["bundle_name"] == bundle
    assert not scripted.training, "the exported generator is in training mode (batch norm would use batch statistics)"
    eager = eager_generator(run.model_file)
    z = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = eager(z)
        actual = scripted(z)
    assert actual.shape == (2, 1, 64, 64)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_metadata_verifies(metadata_checks, bundle):
    assert_ok(metadata_checks[bundle])


# ---------------------------------------------------------------------------------------------------------------
# volumes


@pytest.mark.parametrize("bundle", BUNDLES)
def test_3d_training_and_inference(volume_runs, bundle):
    """3D model on NIfTI volumes, trained through ``run`` with no run id, then NIfTI samples from it."""
    run = volume_runs[bundle]
    assert_ok(run.training)
    assert_training_outputs(run.output_dir, bundle)
    assert_ok(run.inference)
    assert sorted(p.name for p in run.samples.iterdir()) == [
        MANIFEST,
        "sample_0000.nii.gz",
        "sample_0001.nii.gz",
        "samples.png",
    ]
    for name in ("sample_0000.nii.gz", "sample_0001.nii.gz"):
        volume = nib.load(run.samples / name)
        assert volume.shape == (64, 64, 64)
        assert np.isfinite(volume.get_fdata()).all()


def test_2d_model_trains_on_slices_of_volumes(volume_runs):
    run = volume_runs["2d_slices"]
    assert_ok(run.training)
    assert_training_outputs(run.output_dir, "dcgan")
    # 3 volumes are fewer than a batch of 4: more than one iteration means they were cut into slices
    assert len(loss_iterations(run.output_dir)) > 1


# ---------------------------------------------------------------------------------------------------------------
# bad input: one sentence, before training, nothing touched

TRAINING_CASES = (  # each with --dataset_dir and overrides made by bad_input_cases
    "missing_dataset_dir",
    "empty_folder",
    "unreadable_file",
    "mixed_channels",
    "nan_volume",
    "3d_model_2d_images",
    "image_size_96",
    "too_few_images",
    "resume_other_image_size",
)
INFERENCE_CASES = {  # case -> (bundle of the inference.json, the checkpoint: "dcgan" model or None, phrases)
    "checkpoint_of_other_bundle": ("sngan", "dcgan", ("a dcgan model, not a sngan one",)),
    "missing_ckpt_path": ("dcgan", None, ("no model file", "--ckpt_path")),
}
BAD_INPUT_CASES = [*TRAINING_CASES, *INFERENCE_CASES]


def bad_input_cases(data: Path, png_dir: Path) -> dict[str, tuple[dict, tuple[str, ...]]]:
    """Write the bad data sets under ``data``; case -> (training overrides, phrases the message must hold)."""
    (data / "empty").mkdir(parents=True)
    write_pngs(data / "unreadable", 4)
    (data / "unreadable" / "x.png").write_bytes(b"\x00garbage, not a PNG\xff" * 8)
    write_pngs(data / "mixed_channels", 4, mode="L")
    write_pngs(data / "mixed_channels", 4, mode="RGB", start=4)
    write_volumes(data / "nan_volume", 1, nan=True)
    cases = {
        "missing_dataset_dir": ({"dataset_dir": data / "does_not_exist"}, ("does_not_exist", "not a folder")),
        "empty_folder": ({"dataset_dir": data / "empty"}, ("empty", "holds no images")),
        "unreadable_file": ({"dataset_dir": data / "unreadable"}, ("x.png", "could not be read")),
        "mixed_channels": ({"dataset_dir": data / "mixed_channels"}, ("channel",)),
        "nan_volume": ({"dataset_dir": data / "nan_volume"}, ("volume_0.nii.gz", "NaN")),
        "3d_model_2d_images": ({"dataset_dir": png_dir, "spatial_dims": 3}, ("2D image", "3D")),
        "image_size_96": ({"dataset_dir": png_dir, "image_size": 96}, ("--image_size", "64, 128, 256, not 96")),
        "too_few_images": ({"dataset_dir": png_dir, "batch_size": 16}, ("batch_size 16", f"{NUM_IMAGES} images")),
        "resume_other_image_size": ({"dataset_dir": png_dir, "image_size": 128}, ("image_size=64", "128")),
    }
    assert list(cases) == list(TRAINING_CASES)
    return cases


@dataclass
class BadInputRun:
    result: subprocess.CompletedProcess
    phrases: tuple[str, ...]
    changed: list[str]  # what the run changed in the earlier run's output folder


@pytest.fixture(scope="module")
def bad_input_runs(trained, png_dir, tmp_path_factory) -> dict[str, BadInputRun]:
    """Every bad-input case; a training case runs with its own copy of the trained dcgan output as --output_dir."""
    earlier = trained["dcgan"]
    earlier.assert_trained()
    root = tmp_path_factory.mktemp("bad_input")
    cases = bad_input_cases(root / "data", png_dir)

    def training_case(name: str) -> BadInputRun:
        overrides, phrases = cases[name]
        output_dir = root / "outputs" / name
        shutil.copytree(earlier.output_dir, output_dir)
        before = snapshot(output_dir)
        result = train(earlier.bundle_dir, output_dir=output_dir, max_epochs=2, **overrides)
        return BadInputRun(result, phrases, changes(before, snapshot(output_dir)))

    def inference_case(name: str) -> BadInputRun:
        bundle, checkpoint, phrases = INFERENCE_CASES[name]
        ckpt_path = earlier.model_file if checkpoint == "dcgan" else root / "no_such_model.pt"
        before = snapshot(earlier.output_dir)
        result = infer(trained[bundle].bundle_dir, ckpt_path, root / "samples" / name, num_samples=2)
        return BadInputRun(result, phrases, changes(before, snapshot(earlier.output_dir)))

    calls = [lambda n=n: training_case(n) for n in TRAINING_CASES]
    calls += [lambda n=n: inference_case(n) for n in INFERENCE_CASES]
    return dict(zip(BAD_INPUT_CASES, in_parallel(*calls)))


@pytest.mark.parametrize("case", BAD_INPUT_CASES)
def test_bad_input_is_refused_in_one_sentence(bad_input_runs, case):
    run = bad_input_runs[case]
    assert_bad_input(run.result, *run.phrases)


@pytest.mark.parametrize("case", BAD_INPUT_CASES)
def test_bad_input_leaves_earlier_output_untouched(bad_input_runs, case):
    run = bad_input_runs[case]
    assert run.result.returncode != 0, describe(run.result)
    assert run.changed == [], f"{run.changed}\n{describe(run.result)}"
