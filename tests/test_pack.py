"""Sharing a bundle: ``python -m medgan pack`` -> ``python -m monai.bundle download --url file://...`` -> train,
export and infer from the downloaded copy, outside the repository; and broken bundles refused in one sentence."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import REPO_ROOT, bundle_copy, env, read_model, run_command
from monai.bundle import download, download_large_files

from medgan.errors import BadInputError
from medgan.pack import MAX_FILE_BYTES, check_bundle, pack
from medgan.serving import TorchScriptGenerator

TINY_TRAIN = {
    "consingan": ["--spatial_dims", "2", "--num_scales", "3", "--max_size", "24", "--min_size", "8",
                  "--iterations_per_stage", "4", "--num_features", "4", "--num_layers", "2",
                  "--d_steps", "1", "--g_steps", "1"],
    "dcgan": ["--image_size", "64", "--num_features", "4", "--batch_size", "4", "--max_epochs", "1"],
}  # fmt: skip


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    """``python ARGS`` in ``cwd``; fails the test with the output's tail on a non-zero exit."""
    process = run_command([sys.executable, *map(str, args)], cwd=cwd)
    assert process.returncode == 0, (
        f"{args}: exit {process.returncode}\n{process.stdout[-2000:]}\n{process.stderr[-2000:]}"
    )
    return process


def share_and_use(name: str, root: Path) -> dict:
    """Pack a clean copy of the bundle, download the zip as a colleague would (in another folder, nothing of the
    repository on hand but the medgan package), then train, export to TorchScript and infer from the copy."""
    source = bundle_copy(name, root / "repo")
    user = root / "user"
    user.mkdir()
    packed = run("-m", "medgan", "pack", source, "--out", root / "dist", cwd=root)
    zip_path = Path(packed.stdout.strip().splitlines()[-1])
    # what `python -m monai.bundle download --name NAME --url file://... --bundle_dir downloaded` runs, in-process to
    # spare a subprocess (importing monai takes seconds)
    download(name=name, url=zip_path.resolve().as_uri(), bundle_dir=str(user / "downloaded"), progress=False)
    copy = user / "downloaded" / name
    run("-m", "monai.bundle", "run", "training", "--config_file", copy / "configs/train.json", *TINY_TRAIN[name],
        cwd=user)  # fmt: skip
    run("-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", "models/model.ts", "--ckpt_file",
        "models/model.pt", "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json",
        cwd=copy)  # fmt: skip
    run("-m", "monai.bundle", "run", "inferring", "--config_file", copy / "configs/inference.json",
        "--num_samples", "2", cwd=user)  # fmt: skip
    return {"zip": zip_path, "copy": copy}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Both bundles' round trips, two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(share_and_use, name, tmp_path_factory.mktemp(name)) for name in TINY_TRAIN}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_TRAIN))
def test_packed_zip_is_laid_out_as_the_model_zoo_publishes(shared, name):
    zip_path = shared[name]["zip"]
    version = json.loads((REPO_ROOT / "bundles" / name / "configs" / "metadata.json").read_text())["version"]
    assert zip_path.name == f"{name}_v{version}.zip"
    names = zipfile.ZipFile(zip_path).namelist()
    assert all(entry.startswith(f"{name}/") for entry in names)
    for required in ("LICENSE", "configs/metadata.json", "configs/train.json", "configs/inference.json",
                     "docs/README.md"):  # fmt: skip
        assert f"{name}/{required}" in names


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_TRAIN))
def test_downloaded_copy_trains_exports_and_infers(shared, name):
    copy = shared[name]["copy"]
    assert read_model(copy / "models")[1]["bundle"] == name
    exported = TorchScriptGenerator(copy / "models" / "model.ts", copy / "configs" / "metadata.json").sample(2)
    assert exported.shape[:2] == (2, 1) and exported.dim() == 4 and exported.abs().max() <= 1  # 2D images in [-1, 1]
    samples = sorted((copy / "output").glob("sample_*"))
    assert [p.suffix for p in samples] == [".png"] * 2 and (copy / "output" / "samples.png").is_file()


@pytest.mark.slow
def test_repacking_a_trained_copy_ships_the_model_files_only(shared, tmp_path):
    copy = shared["dcgan"]["copy"]
    names = set(zipfile.ZipFile(pack(str(copy), str(tmp_path))).namelist())
    assert {"dcgan/models/model.pt", "dcgan/models/model.ts"} <= names
    assert not [n for n in names if n.startswith(("dcgan/output/", "dcgan/models/checkpoints/", "dcgan/models/samp"))]
    no_models = set(zipfile.ZipFile(pack(str(copy), str(tmp_path / "lean"), models="false")).namelist())
    assert not [n for n in no_models if n.startswith("dcgan/models/")]


# ---------------------------------------------------------------------------------------------------------------
# broken bundles


@pytest.fixture
def clean(tmp_path) -> Path:
    return bundle_copy("consingan", tmp_path)


def edit_metadata(bundle: Path, change) -> None:
    meta_file = bundle / "configs" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    change(meta)
    meta_file.write_text(json.dumps(meta))


def oversize(bundle: Path) -> Path:
    """A sparse file just over the limit (no disk written)."""
    big = bundle / "docs" / "scan.nii.gz"
    with open(big, "wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)
    return big


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda b: (b / "LICENSE").unlink(), "has no LICENSE"),
        (lambda b: (b / "docs" / "README.md").unlink(), "has no docs/README.md"),
        (lambda b: (b / "configs" / "metadata.json").write_text("{ not json"), "is not valid JSON"),
        (lambda b: edit_metadata(b, lambda m: m.pop("network_data_format")), "'network_data_format' is a required"),
        (lambda b: edit_metadata(b, lambda m: m.update(version="0.2.0")), "changelog has no entry for it"),
        (lambda b: edit_metadata(b, lambda m: m.update(version=2)), "metadata schema at version: 2 is not"),
        (lambda b: edit_metadata(b, lambda m: m["required_packages_version"].pop("medgan")), "does not list medgan"),
        (lambda b: edit_metadata(b, lambda m: m.update(schema="x/meta_schema_2021.json")), "names the schema"),
        (oversize, "docs/scan.nii.gz (25.0 MiB)"),
        (lambda b: (b / "large_files.json").write_text('{"files": []}'), "must be JSON of the form"),
    ],
    ids=["license", "readme", "json", "schema", "changelog", "version_type", "medgan", "schema_name", "oversize",
         "large_files"],
)  # fmt: skip
def test_broken_bundle_is_refused(clean, tmp_path, breakage, message):
    breakage(clean)
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pack(str(clean), str(tmp_path / "dist"))
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_refusal_on_the_command_line_is_one_sentence(clean, tmp_path):
    (clean / "LICENSE").unlink()
    process = subprocess.run([sys.executable, "-m", "medgan", "pack", str(clean), "--out", str(tmp_path / "dist")],
                             capture_output=True, encoding="utf-8", cwd=tmp_path, env=env(), timeout=120)  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.strip() == f"medgan: {clean} has no LICENSE; a bundle ships one, add it and pack again."


def test_listed_large_file_is_left_out_and_its_hash_checked(clean, tmp_path):
    big = oversize(clean)
    md5 = hashlib.md5(big.read_bytes()).hexdigest()
    hosted = shutil.copy(big, tmp_path / "hosted.nii.gz")  # where a colleague downloads it from
    entry = {"path": "docs/scan.nii.gz", "url": Path(hosted).as_uri(), "hash_val": md5, "hash_type": "md5"}
    (clean / "large_files.json").write_text(json.dumps({"large_files": [entry]}))
    contents = check_bundle(clean)
    assert contents.large_files == [big]
    archive = zipfile.ZipFile(pack(str(clean), str(tmp_path)))
    assert "consingan/large_files.json" in archive.namelist() and "consingan/docs/scan.nii.gz" not in archive.namelist()
    archive.extractall(tmp_path / "downloaded")
    download_large_files(bundle_path=str(tmp_path / "downloaded" / "consingan"))
    assert (tmp_path / "downloaded" / "consingan" / "docs" / "scan.nii.gz").stat().st_size == MAX_FILE_BYTES + 1

    (clean / "large_files.json").write_text(json.dumps({"large_files": [{**entry, "hash_val": "0" * 32}]}))
    with pytest.raises(BadInputError, match="does not have the md5"):
        pack(str(clean), str(tmp_path))
    (clean / "large_files.json").write_text(json.dumps({"large_files": [{**entry, "url": ""}]}))
    with pytest.raises(BadInputError, match="lacks url"):
        pack(str(clean), str(tmp_path))


@pytest.mark.parametrize(
    "bundle", sorted(p for p in (REPO_ROOT / "bundles").iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_every_repository_bundle_passes_the_checks(bundle):
    assert check_bundle(bundle, models=False).files


def test_large_files_yml_as_the_model_zoo_writes_it(clean, tmp_path):
    big = oversize(clean)
    md5 = hashlib.md5(big.read_bytes()).hexdigest()
    (clean / "large_files.yml").write_text(
        f"large_files:\n  - path: docs/scan.nii.gz\n    url: https://example.org/scan.nii.gz\n"
        f"    hash_val: {md5}\n    hash_type: md5\n"
    )
    assert check_bundle(clean).large_files == [big]
    (clean / "large_files.json").write_text('{"large_files": []}')
    with pytest.raises(BadInputError, match="has large_files.yml and large_files.json; keep one"):
        check_bundle(clean)


def test_two_clones_pack_to_the_same_bytes(tmp_path):
    first, second = bundle_copy("dcgan", tmp_path / "a"), bundle_copy("dcgan", tmp_path / "b")
    os.utime(second / "LICENSE", (1_000_000_000, 1_000_000_000))  # another checkout time
    (second / "docs" / "README.md").chmod(0o600)
    zips = [Path(pack(str(bundle), str(tmp_path / name))) for bundle, name in ((first, "za"), (second, "zb"))]
    assert zips[0].read_bytes() == zips[1].read_bytes()
    names = zipfile.ZipFile(zips[0]).namelist()
    assert names == sorted(names)


def test_a_symbolic_link_is_refused(clean, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the bundle")
    (clean / "docs" / "notes.txt").symlink_to(secret)
    with pytest.raises(BadInputError, match="notes.txt is a symbolic link"):
        pack(str(clean), str(tmp_path / "dist"))


def test_an_existing_zip_is_not_replaced_without_overwrite(clean, tmp_path):
    target = Path(pack(str(clean), str(tmp_path)))
    target.write_bytes(b"a colleague's zip")
    with pytest.raises(BadInputError, match="already exists; pass --overwrite true"):
        pack(str(clean), str(tmp_path))
    assert target.read_bytes() == b"a colleague's zip"
    assert zipfile.ZipFile(pack(str(clean), str(tmp_path), overwrite="true")).namelist()


def test_only_what_a_bundle_is_is_packed(clean, tmp_path):
    """A training run's folder inside the bundle (checkpoints with optimizer state), notes and stray files stay
    home, with or without the model files."""
    run = clean / "run1" / "checkpoints"
    run.mkdir(parents=True)
    (run / "checkpoint_8.pt").write_bytes(b"optimizer state")
    (clean / "notes.txt").write_text("where the data are")
    (clean / "models" / "checkpoints").mkdir(parents=True)
    (clean / "models" / "checkpoints" / "checkpoint_8.pt").write_bytes(b"optimizer state")
    (clean / "models" / "samples.png").write_bytes(b"a preview")
    for exported in ("model.ts", "model.onnx"):
        (clean / "models" / exported).write_bytes(b"an exported generator")
    (clean / "scripts").mkdir()
    (clean / "scripts" / "prepare.py").write_text("print('a bundle script')\n")
    for models in ("true", "false"):
        names = set(zipfile.ZipFile(pack(str(clean), str(tmp_path / models), models=models)).namelist())
        tops = {name.split("/")[1] for name in names}
        assert tops <= {"configs", "docs", "scripts", "models", "LICENSE"}, tops
        assert "consingan/scripts/prepare.py" in names
        shipped = {name for name in names if name.startswith("consingan/models/")}
        assert shipped == ({"consingan/models/model.ts", "consingan/models/model.onnx"} if models == "true" else set())
        assert not [name for name in names if "checkpoint" in name or name.endswith("notes.txt")]
