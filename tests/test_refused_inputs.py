"""Every row of the README's table of refused inputs ("Bad input"), run as typed: in process through
``monai.bundle.run`` with the row's arguments parsed as MONAI's command line parses them (``fire``), in a folder
holding the files the rows name. The run must stop with exactly the row's sentence and create no output folder."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from fire.parser import DefaultParseValue
from helpers import REPO_ROOT, bundle_copy
from monai.bundle import run as run_bundle
from PIL import Image

from medgan.errors import find_bad_input

README = REPO_ROOT / "README.md"
ROW = re.compile(r"^\| (\w+) \| (train|inference|evaluate) \| `([^`]+)`(?: \([^)]*\))? \| (.+) \|$")
RUN_IDS = {"train": "training", "inference": "inferring", "evaluate": "evaluating"}


def table_rows() -> list[tuple[str, str, str, str]]:
    """(bundle, config, arguments, sentence) of every row between the README's markers."""
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- refused inputs: begin -->")[1].split("<!-- refused inputs: end -->")[0]
    return [ROW.match(line).groups() for line in table.strip().splitlines()[2:]]


def test_the_table_is_complete_and_every_row_parses():
    rows = table_rows()
    assert len(rows) >= 40
    assert len({(bundle, config, arguments) for bundle, config, arguments, _ in rows}) == len(rows)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The files the rows name: an empty folder, a text file, broken and tiny PNGs, a 4D NIfTI; and a copy of
    every bundle (so no default path reaches the repository's own bundles)."""
    root = tmp_path_factory.mktemp("refused")
    rng = np.random.default_rng(0)
    (root / "notes.txt").write_text("a note")
    for folder in ("empty", "corrupt_pngs", "tiny_pngs", "series_4d"):
        (root / folder).mkdir()
    for index in range(2):
        Image.fromarray((rng.random((40, 48)) * 255).astype(np.uint8)).save(root / f"corrupt_pngs/scan{index}.png")
        (root / f"corrupt_pngs/bad{index}.png").write_bytes(b"not a png")
    Image.fromarray((rng.random((40, 48)) * 255).astype(np.uint8)).save(root / "tiny_pngs/scan.png")
    Image.fromarray((rng.random((1, 2)) * 255).astype(np.uint8)).save(root / "tiny_pngs/dot.png")
    series = nib.Nifti1Image(rng.random((12, 10, 8, 3)).astype(np.float32), np.eye(4))
    nib.save(series, root / "series_4d/series.nii.gz")
    for bundle in {row[0] for row in table_rows()}:
        bundle_copy(bundle, root / "bundles")
    return root


@pytest.mark.parametrize(("bundle", "config", "arguments", "sentence"), table_rows())
def test_refused_input(bundle, config, arguments, sentence, workspace, monkeypatch):
    if "--device cuda" in arguments and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    words = shlex.split(arguments)
    overrides = {key.removeprefix("--"): DefaultParseValue(value) for key, value in zip(words[::2], words[1::2])}
    configs = workspace / "bundles" / bundle / "configs"
    config_file = (
        [str(configs / "train.json"), str(configs / "evaluate.json")]
        if config == "evaluate"
        else str(configs / f"{config}.json")
    )
    with pytest.raises(Exception) as caught:
        run_bundle(RUN_IDS[config], config_file=config_file, output_dir="out", **overrides)
    bad_input = find_bad_input(caught.value)
    assert bad_input is not None, caught.value
    assert str(bad_input) == sentence
    assert not (workspace / "out").exists()
