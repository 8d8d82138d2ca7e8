"""The budget of ``benchmarks/quality.py``: ``--kimg`` thousand real images whatever the batch and data set size."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402


def test_epochs_count_the_images_the_loader_gives():
    # 40 slices in batches of 16: the loader drops the last 8, so an epoch shows 32 images and 60 kimg is 1875 epochs
    assert quality.budget("stylegan2", 60, 40, 16)["max_epochs"] == 1875
    assert quality.budget("dcgan", 8, 64, 16)["max_epochs"] == 125  # no partial batch: 64 per epoch
    assert quality.budget("dcgan", 0.001, 40, 16)["max_epochs"] == 1


def test_progressive_bundles_get_images_per_stage():
    assert quality.budget("pggan", 10, 40, 16)["images_per_stage"] == 2000  # five resolutions, 4 to 64 px


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [(["--kimg", "0"], "above 0"), (["--ada_kimg", "-1"], "above 0"),
     (["--augment", "none", "--ada_kimg", "15"], "add ada to --augment"), (["--augment", "adaa"], "invalid choice"),
     (["--augment", "none", "--ada_ops", "flip"], "--ada_ops is for ADA"), (["--ada_ops", "flips"], "invalid choice")],
)  # fmt: skip
def test_bad_arguments_stop_before_anything_is_written(argv, phrase, capsys, tmp_path):
    with pytest.raises(SystemExit):
        quality.parse_arguments([*argv, "--out", str(tmp_path / "out")])
    assert phrase in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ada_runs_get_the_chosen_transforms_and_speed():
    args = quality.parse_arguments(["--kimg", "48", "--ada_ops", "flip", "rotate", "--augment", "none", "ada"])
    ada = quality.run_overrides("stylegan2", "ada", args, 40)
    assert (ada["augment"], ada["ada_kimg"], ada["ada_ops"]) == ("ada", 12.0, ["flip", "rotate"])
    assert ada["max_epochs"] == 1500 and ada["max_channels"] == 32
    plain = quality.run_overrides("stylegan2", "none", args, 40)
    assert not {"augment", "ada_kimg", "ada_ops"} & set(plain)
    default = quality.run_overrides("stylegan2", "ada", quality.parse_arguments(["--ada_kimg", "15"]), 40)
    assert default["ada_kimg"] == 15 and "ada_ops" not in default  # the bundle's own list


def test_slice_step_keeps_every_nth_slice_before_the_split(tmp_path):
    import numpy as np

    images = tmp_path / "images"
    images.mkdir()
    for index in range(10):  # slice k: a ramp (not a label map) with its brightest pixel at flat position 5 k
        image = np.linspace(0, 1, 64, dtype=np.float32)
        image[5 * index] = 2
        np.save(images / f"s{index:02d}.npy", image.reshape(8, 8))
    train, heldout, num_train = quality.split(str(images), tmp_path / "out", step=3)  # slices 0, 3, 6, 9

    def sources(folder):
        return [int(np.load(path).argmax()) // 5 for path in sorted(folder.glob("*.npy"))]

    assert (num_train, sources(train), sources(heldout)) == (2, [0, 6], [3, 9])


def test_slice_step_below_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        quality.parse_arguments(["--slice_step", "0"])
    assert "at least 1" in capsys.readouterr().err
