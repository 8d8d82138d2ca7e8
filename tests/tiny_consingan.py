"""A tiny trained ConSinGAN bundle shared by the tests that serve one (MONAI Label, MONAI Deploy): trained once per
test session, into the session's temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

import medgan

REPO = Path(__file__).resolve().parents[1]
SHAPE = (22, 26, 18)
TINY = ["--num_scales", "3", "--max_size", "24", "--min_size", "8", "--epochs", "4", "--num_feature_channels", "4",
        "--num_layers", "2", "--d_steps", "1", "--g_steps", "1"]  # fmt: skip


def env() -> dict[str, str]:
    """Subprocess environment: one thread, and this checkout's medgan importable from any folder."""
    package_root = str(Path(medgan.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def write_scan(path: Path) -> Path:
    """A 22 x 26 x 18 NIfTI 'scan' with 2 mm voxels and an offset origin."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij"))
    data = (np.exp(-(grid**2).sum(0) * 2) * 800 + np.sin(grid[0] * 9) * 50).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-20, -30, 10]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def tiny_consingan(base: Path) -> tuple[Path, Path]:
    """``(bundle, scan)`` under ``base``: a copy of the ConSinGAN bundle with a tiny 3D model trained on ``scan``
    (``python -m monai.bundle run training``), made on the first call and reused after."""
    bundle, scan = base / "tiny_consingan" / "consingan", base / "tiny_consingan" / "studies" / "scan.nii.gz"
    if not (bundle / "models" / "model.pt").is_file():
        write_scan(scan)
        shutil.rmtree(bundle, ignore_errors=True)
        ignore = shutil.ignore_patterns("models", "output", "eval")
        shutil.copytree(REPO / "bundles" / "consingan", bundle, ignore=ignore)
        subprocess.run([sys.executable, "-m", "monai.bundle", "run", "training", "--config_file",
                        str(bundle / "configs" / "train.json"), "--image", str(scan), *TINY],
                       check=True, capture_output=True, env=env(), timeout=300)  # fmt: skip
    return bundle, scan
