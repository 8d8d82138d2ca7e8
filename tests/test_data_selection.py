"""Choosing a dataset folder's images: ``--dataset_include`` / ``--dataset_exclude`` glob patterns, and the
refusal of a folder that mixes scans with label maps, on a folder laid out as the OASIS ``keras_png_slices``
download (scans and their segmentations in sibling folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medgan.data import find_image_paths, load_training_images
from medgan.data.image_set import MAX_LABELS, looks_like_label_map
from medgan.errors import BadInputError


def oasis_like(root: Path, per_folder: int = 3) -> Path:
    """keras_png_slices_{train,validate}/case_*.png scans and keras_png_slices_seg_{train,validate}/seg_*.png label
    maps (values 0, 85, 170, 255, as OASIS' segmentations)."""
    rng = np.random.default_rng(0)
    for split in ("train", "validate"):
        for seg in (False, True):
            folder = root / f"keras_png_slices_{'seg_' if seg else ''}{split}"
            folder.mkdir(parents=True)
            for i in range(per_folder):
                if seg:
                    pixels, name = (rng.integers(0, 4, (32, 32)) * 85).astype(np.uint8), f"seg_{i:03d}_slice_0.nii.png"
                else:
                    pixels, name = rng.uniform(0, 255, (32, 32)).astype(np.uint8), f"case_{i:03d}_slice_0.nii.png"
                Image.fromarray(pixels).save(folder / name)
    return root


def test_a_folder_of_scans_and_label_maps_is_refused_with_the_pattern_that_leaves_the_maps_out(tmp_path):
    root = oasis_like(tmp_path / "oasis")
    with pytest.raises(BadInputError) as refused:
        load_training_images(root, 2, 64)
    assert str(refused.value) == (
        f"6 of the 12 images under {root} look like label maps (at most {MAX_LABELS} whole values, e.g. "
        f"{root}/keras_png_slices_seg_train/seg_000_slice_0.nii.png); leave them out with --dataset_exclude "
        "'keras_png_slices_seg_*'."
    )
    images = load_training_images(root, 2, 64, exclude="keras_png_slices_seg_*")  # the pattern it names works
    assert images.shape == (6, 1, 64, 64)


def test_include_and_exclude_match_relative_paths_and_file_names(tmp_path):
    root = oasis_like(tmp_path / "oasis")
    relative = {p.relative_to(root).as_posix() for p in find_image_paths(root, include="keras_png_slices_train/*")}
    assert relative == {f"keras_png_slices_train/case_{i:03d}_slice_0.nii.png" for i in range(3)}
    by_name = find_image_paths(root, include=["case_*"], exclude=["*validate*"])
    assert [p.parent.name for p in by_name] == ["keras_png_slices_train"] * 3
    assert len(find_image_paths(root, exclude="seg_*")) == 6  # a file-name pattern


def test_patterns_that_leave_nothing_are_one_sentence(tmp_path):
    root = oasis_like(tmp_path / "oasis")
    sentence = r"none of the 12 images under .* is left by --dataset_include \['\*.dcm'\]"
    with pytest.raises(BadInputError, match=sentence):
        find_image_paths(root, include="*.dcm")


def test_a_folder_of_label_maps_only_is_taken_as_asked(tmp_path):
    root = oasis_like(tmp_path / "oasis")
    images = load_training_images(root, 2, 64, include="keras_png_slices_seg_*")
    assert images.shape == (6, 1, 64, 64)


def test_what_counts_as_a_label_map():
    assert looks_like_label_map(torch.tensor([0.0, 85.0, 170.0, 255.0]).repeat(100))
    assert not looks_like_label_map(torch.arange(MAX_LABELS + 1, dtype=torch.float32))  # too many values
    assert not looks_like_label_map(torch.tensor([0.0, 0.5, 1.0]).repeat(200))  # not whole: an intensity image
    assert not looks_like_label_map(torch.tensor([[3.0, 7.0]]))  # a 1x2 px image is too small to tell
