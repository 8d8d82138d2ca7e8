"""Every bundle's configs/metadata.json validates offline against the shipped MONAI metadata schema."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from monai.bundle import verify_metadata

import medgan

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = Path(medgan.__file__).resolve().parent / "bundle_schema" / "meta_schema_20240725.json"
# md5 of meta_schema_20240725.json as published in Project-MONAI/MONAI-extra-test-data release 0.8.1;
# published schemas never change, so a different hash means the shipped copy was edited.
SCHEMA_MD5 = "76e1add273836515d0bbb3bc71962474"
METADATA_FILES = sorted(REPO_ROOT.glob("bundles/*/configs/metadata.json"))


def _bundle_id(path: Path) -> str:
    return path.parents[1].name


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to reach the network fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted during metadata verification")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.setattr("urllib.request.urlretrieve", refuse)
    monkeypatch.setattr("monai.apps.utils._download_with_progress", refuse)


def test_bundles_found():
    assert METADATA_FILES, "no bundles/*/configs/metadata.json found"


@pytest.mark.parametrize("meta_file", METADATA_FILES, ids=_bundle_id)
def test_metadata_verifies_offline(meta_file, no_network):
    verify_metadata(meta_file=str(meta_file), filepath=str(SCHEMA_FILE), hash_val=SCHEMA_MD5, create_dir=False)


@pytest.mark.parametrize("meta_file", METADATA_FILES, ids=_bundle_id)
def test_metadata_versions(meta_file):
    meta = json.loads(meta_file.read_text())
    assert meta["schema"].rsplit("/", 1)[-1] == SCHEMA_FILE.name
    assert meta["version"] in meta["changelog"]
    assert meta["required_packages_version"]["medgan"] == medgan.__version__


def test_invalid_metadata_is_rejected(tmp_path, no_network):
    meta = json.loads(METADATA_FILES[0].read_text())
    del meta["network_data_format"]
    bad = tmp_path / "metadata.json"
    bad.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(bad), filepath=str(SCHEMA_FILE), hash_val=SCHEMA_MD5, create_dir=False)


@pytest.mark.parametrize("meta_file", METADATA_FILES, ids=_bundle_id)
def test_every_tensor_has_a_value_range(meta_file):
    tensors = json.loads(meta_file.read_text())["network_data_format"]
    for role in ("inputs", "outputs"):
        for name, tensor in tensors[role].items():
            low, high = tensor["value_range"]
            assert low < high, (role, name)


def _measured_evaluations() -> dict[str, dict[str, float]]:
    """The figures of the evaluation runs recorded under benchmarks/results: the quality benchmark's held-out
    evaluation at the default recipe (no augmentation) per multi-image bundle, ConSinGAN's quick-start model."""
    measured = {}
    for result in sorted(REPO_ROOT.glob("benchmarks/results/quality-*/quality_*.json")):
        for row in json.loads(result.read_text())["rows"]:
            if row["augment"] == "none":
                measured[row["bundle"]] = row["heldout"]
    quick_start = REPO_ROOT / "benchmarks/results/consingan-quickstart-20261203/metrics.json"
    metrics = json.loads(quick_start.read_text())["metrics"]
    measured["consingan"] = {name: entry["value"] for name, entry in metrics.items()}
    return measured


@pytest.mark.parametrize("meta_file", METADATA_FILES, ids=_bundle_id)
def test_eval_metrics_are_a_recorded_evaluation(meta_file):
    """eval_metrics are the figures (to 4 significant digits) of an evaluate.json run recorded in benchmarks/."""
    meta = json.loads(meta_file.read_text())
    measured = _measured_evaluations()[_bundle_id(meta_file)]
    assert len(meta["eval_metrics"]) >= 3
    for name, value in meta["eval_metrics"].items():
        assert value == float(f"{measured[name]:.4g}"), name
    assert "eval_metrics: evaluate.json" in meta["description"]
