"""medgan's ConSinGAN bundle side by side with the reference tohinz/ConSinGAN, at one configuration.

    python benchmarks/consingan_reference.py --reference /path/to/ConSinGAN --mni-slices
    python benchmarks/consingan_reference.py --reference /path/to/ConSinGAN --images a.png b.png \\
        --runs reference,medgan --stages 3 --iterations 20 --max_size 40 --channels 16 --out /tmp/side-by-side

For every 2D input image, and one after the other (never in parallel), each selected run trains in its own
process and then writes 25 samples:

- ``reference``: the reference's ``main_train.py --train_mode generation --not_cuda`` and ``evaluate_model.py``,
  started through this file (``--launch-reference``), which applies the compatibility shims of
  :func:`install_reference_shims` before running the script unchanged. The reference reads an RGB copy of the gray
  input and its samples are read back as gray. By default it trains on three channels (its ``--nc_im 3``: three
  channels of noise at the coarsest stage, an RGB generator and critic), as it does for every input;
  ``--reference_channels 1`` trains it on one (``--nc_im 1``), as medgan trains on a gray scan.
- ``medgan-nocbam`` and ``medgan``: ``python -m monai.bundle run training`` with the bundle's ``train.json``
  (``--cbam false`` / the default CBAM), then ``run inferring`` with its ``inference.json``, exactly as a user runs
  them from the repository root.

The configuration's keys go to both projects through :data:`KEY_MAP`, including the recipe values whose defaults
agree today, so that neither project's default can drift apart unnoticed. Every process gets the same number of
torch threads (``OMP_NUM_THREADS``) and no GPU (``CUDA_VISIBLE_DEVICES=""``). Recorded per run: wall time of the
training process, seconds per stage (medgan: ignite's ``Epoch[k] Complete. Time taken`` lines; the reference: from
its stage folder's first file, ``real_scale``, to its last, ``netD.pth``), and the peak RSS of the process
(``os.wait4``'s ``ru_maxrss``).

Metrics, on the 25 samples against the real image (the input resized with antialiasing to the finest training
shape, longest side ``max_size``), every image first rescaled to [0, 1] between its own 0.5th and 99.5th
percentiles (clipped), and samples whose shape differs from the real image's (pyramid rounding) resized to it:
patch SWD (``medgan.metrics.swd``, x 1e3, three Laplacian levels of 7x7 patches), SinGAN's diversity
(``medgan.metrics.diversity.singan_diversity``) and the mean absolute distance of the closest sample.

Results go to ``--out``: ``consingan_reference.json`` (every figure, the machine, the date, the command; rewritten
after every run), ``consingan_reference.md`` (the table) and ``samples_<image>.png`` (the real image and six
samples of each run).

This file is also the reference's launcher, so it imports only the standard library, numpy, torch and PIL (which
the reference imports too) at the top; medgan and MONAI (about 0.4 GB and 6 s of imports) are imported inside the
functions that need them, and never in the reference's processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import platform
import re
import runpy
import shlex
import subprocess
import sys
import time
import types
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TRAIN_CONFIG = "bundles/consingan/configs/train.json"
INFERENCE_CONFIG = "bundles/consingan/configs/inference.json"
LAUNCH_REFERENCE = "--launch-reference"
NUM_SAMPLES = 25
GRID_SAMPLES = 6
SWD_LEVELS = 3
RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
GIB = 1024**3
CLI_KEYS = ("stages", "iterations", "max_size", "min_size", "channels", "seed", "threads")
"""The configuration's fields that the command line sets (the others are the recipe, equal in both projects)."""
RESULTS_JSON = "consingan_reference.json"
RESULTS_MD = "consingan_reference.md"

RUNS = {
    "reference": "reference (tohinz/ConSinGAN)",
    "medgan-nocbam": "medgan --cbam false",
    "medgan": "medgan (default, CBAM)",
}
ALBUMENTATIONS_NAMES = (
    "HueSaturationValue IAAAdditiveGaussianNoise GaussNoise OneOf Compose MultiplicativeNoise ToSepia "
    "ChannelDropout ChannelShuffle Cutout InvertImg"
).split()
"""What the reference's ``functions.py`` imports from albumentations (for the editing mode's augmentation only)."""

STAGE_TIME = re.compile(r"Epoch\[(\d+)\] Complete\. Time taken: (\d+):(\d+):(\d+(?:\.\d+)?)")
PYRAMID_LINE = re.compile(r"Training on image pyramid: (.*)")
PYRAMID_SHAPE = re.compile(r"torch\.Size\(\[\d+, \d+, (\d+), (\d+)\]\)")


@dataclasses.dataclass(frozen=True)
class Configuration:
    """The one configuration both projects train with (the defaults: the issue's measurement)."""

    stages: int = 6
    iterations: int = 500
    max_size: int = 96
    min_size: int = 12
    channels: int = 32
    seed: int = 0
    threads: int = 2
    # the recipe: the same defaults in both projects, passed to both explicitly
    active_stages: int = 3
    lr: float = 5e-4
    lr_factor: float = 0.1
    gamma: float = 0.1
    noise_amp: float = 0.1
    alpha_rec: float = 10.0
    lambda_grad: float = 0.1
    d_steps: int = 3
    g_steps: int = 3
    layers: int = 3
    kernel_size: int = 3
    lrelu_alpha: float = 0.05
    # the reference only: the channels it trains on (3: its default, RGB, for every input; 1: gray, as medgan)
    reference_channels: int = 3
    # medgan only: more train.json overrides for both medgan runs (an ablation or a candidate default)
    medgan_args: tuple[str, ...] = ()


KEY_MAP = (
    # (Configuration field, medgan train.json key, reference main_train.py flag); None: not passed there
    ("stages", "num_scales", "train_stages"),
    ("iterations", "iterations_per_stage", "niter"),
    ("max_size", "max_size", "max_size"),
    ("min_size", "min_size", "min_size"),
    ("channels", "num_features", "nfc"),
    ("seed", "seed", "manualSeed"),
    ("active_stages", "active_scales", "train_depth"),
    ("lr", "lr", "lr_g"),
    ("lr", None, "lr_d"),  # medgan's lr is both networks' (g_lr and d_lr stay null)
    ("lr_factor", "lr_factor", "lr_scale"),
    ("gamma", "gamma_scheduler", "gamma"),
    ("noise_amp", "noise_amp", "noise_amp"),
    ("alpha_rec", "alpha_rec_loss", "alpha"),
    ("lambda_grad", "lambda_grad_penalty", "lambda_grad"),
    ("d_steps", "d_steps", "Dsteps"),
    ("g_steps", "g_steps", "Gsteps"),
    ("layers", "num_layers", "num_layer"),
    ("kernel_size", "kernel_size", "ker_size"),
    ("lrelu_alpha", "lrelu_alpha", "lrelu_alpha"),
    ("reference_channels", None, "nc_im"),  # medgan trains on the image's own channels (one for a gray scan)
)


@dataclasses.dataclass
class Measured:
    """One finished process: wall time, peak RSS and its log."""

    seconds: float
    peak_rss_gib: float
    log: str


# ------------------------------------------------------------------------------------ the reference's launcher
def install_reference_shims() -> None:
    """Make the 2020 reference (torch 1.1) run unchanged on today's libraries, on the CPU:

    1. ``albumentations``: a stand-in module (the reference imports eleven transforms, some gone from
       albumentations 1.0 and 2.0, for its editing mode's augmentation, which generation never calls);
    2. ``torch.load``: ``weights_only=False`` (torch >= 2.6 refuses the pickled generator ``G.pth`` the reference
       itself wrote) and ``map_location="cpu"``; ``torch.cuda.current_device`` returns 0 (``evaluate_model.py``
       asks for it to build a CUDA ``map_location`` before loading);
    3. ``functions.save_image`` writes PNG where the reference writes JPEG, so its samples are lossless, like
       medgan's (a harness choice, not a compatibility fix);
    4. its ``--nc_im 1`` (gray) path: ``rgb2gray`` (in ``functions`` and ``imresize``) takes a one-channel array
       (H, W, 1), which the reference's own resize hands back on a 0-255 scale, as gray (divided by 255; skimage's
       ``rgb2gray`` refuses it), and ``plt.imsave`` writes two-dimensional (gray) images with a gray colour map
       (matplotlib's default, viridis, would colour them). Three-channel runs pass through both unchanged.
    """
    stub = types.ModuleType("albumentations")
    for name in ALBUMENTATIONS_NAMES:
        setattr(stub, name, _unavailable(name))
    sys.modules["albumentations"] = stub

    load = torch.load

    def load_on_cpu(*args, **kwargs):
        return load(*args, **{**kwargs, "map_location": "cpu", "weights_only": False})

    torch.load = load_on_cpu
    torch.cuda.current_device = lambda: 0

    import ConSinGAN.functions as functions  # the reference's, on sys.path
    import ConSinGAN.imresize as resize

    save_image = functions.save_image
    functions.save_image = lambda name, image: save_image(str(Path(name).with_suffix(".png")), image)
    functions.plt = types.SimpleNamespace(imsave=_imsave_gray_in_gray)
    for module in (functions, resize):
        module.color = types.SimpleNamespace(rgb2gray=_rgb2gray_of_one_channel)


def _rgb2gray_of_one_channel(image: np.ndarray) -> np.ndarray:
    """skimage's ``rgb2gray``, except that a one-channel (H, W, 1) array on a 0-255 scale is returned as (H, W)
    in [0, 1]."""
    from skimage import color

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0] / 255.0
    return color.rgb2gray(image)


def _imsave_gray_in_gray(name: str, image: np.ndarray, **kwargs) -> None:
    """matplotlib's ``imsave``, with a gray colour map for a two-dimensional image."""
    import matplotlib.pyplot as plt

    plt.imsave(name, image, **({"cmap": "gray"} if np.ndim(image) == 2 else {}), **kwargs)


def _unavailable(name: str):
    """A stand-in for an albumentations transform that says so when called."""

    def refuse(*args, **kwargs):
        raise RuntimeError(f"albumentations.{name} is not available under the benchmark's launcher")

    return refuse


def launch_reference(reference: str, seed: str, script: str, arguments: list[str]) -> None:
    """Run ``python <reference>/<script> <arguments>`` in this process, with the shims and torch seeded."""
    sys.path.insert(0, reference)
    install_reference_shims()
    torch.manual_seed(int(seed))  # evaluate_model.py draws its samples unseeded; main_train.py seeds itself
    sys.argv = [str(Path(reference) / script), *arguments]
    runpy.run_path(sys.argv[0], run_name="__main__")


# ----------------------------------------------------------------------------------------------- the commands
def _value(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def medgan_overrides(config: Configuration) -> list[str]:
    """``--key value`` pairs for medgan's ``train.json``."""
    pairs = [(key, getattr(config, field)) for field, key, _ in KEY_MAP if key is not None]
    return [item for key, value in pairs for item in (f"--{key}", _value(value))]


def reference_arguments(config: Configuration) -> list[str]:
    """``--flag value`` pairs for the reference's ``main_train.py``."""
    pairs = [(flag, getattr(config, field)) for field, _, flag in KEY_MAP if flag is not None]
    return [item for flag, value in pairs for item in (f"--{flag}", _value(value))]


def medgan_commands(image: Path, run_dir: Path, config: Configuration, cbam: bool) -> list[list[str]]:
    """medgan's training and sampling commands, run from the repository root."""
    bundle, model = [sys.executable, "-m", "monai.bundle", "run"], run_dir / "train"
    train = [*bundle, "training", "--config_file", TRAIN_CONFIG, "--image", str(image), "--spatial_dims", "2",
             "--output_dir", str(model), "--cbam", str(cbam).lower(), *medgan_overrides(config),
             *config.medgan_args]  # fmt: skip
    sample = [*bundle, "inferring", "--config_file", INFERENCE_CONFIG, "--ckpt_path", str(model / "model.pt"),
              "--output_dir", str(run_dir / "samples"), "--num_samples", str(NUM_SAMPLES),
              "--seed", str(config.seed)]  # fmt: skip
    return [train, sample]


def reference_command(reference: Path, seed: int, script: str, *arguments: str) -> list[str]:
    """A reference script started through this file's launcher."""
    return [sys.executable, str(Path(__file__).resolve()), LAUNCH_REFERENCE, str(reference), str(seed), script,
            *arguments]  # fmt: skip


# ------------------------------------------------------------------------------------------------ the processes
def run_measured(command: list[str], cwd: Path, log: Path, threads: int) -> Measured:
    """Run ``command`` to its end with ``threads`` torch threads and no GPU; its wall time and peak RSS.

    Raises:
        SystemExit: when it fails, naming its log.
    """
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONPATH": path}  # fmt: skip
    with open(log, "w") as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        last = (log.read_text(errors="replace").strip().splitlines() or [""])[-1]
        raise SystemExit(f"{shlex.join(command)} failed (exit {process.returncode}): {last!r}; see {log}.")
    return Measured(seconds, usage.ru_maxrss * RSS_UNIT / GIB, str(log))


def medgan_stage_seconds(log_text: str) -> list[float]:
    """Seconds of every stage from ignite's ``Epoch[k] Complete. Time taken: HH:MM:SS.mmm`` lines (they include the
    stage's set-up and its end-of-stage preview and checkpoint)."""
    return [int(h) * 3600 + int(m) * 60 + float(s) for _, h, m, s in STAGE_TIME.findall(log_text)]


def reference_stage_seconds(model_dir: Path) -> list[float]:
    """Seconds of every stage of a reference run: from its stage folder's first file (``real_scale``, written before
    the stage's set-up) to its last (``netD.pth``, written after its training and previews)."""
    folders = sorted((p for p in model_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [(p / "netD.pth").stat().st_mtime - (p / "real_scale.png").stat().st_mtime for p in folders]


def reference_stage_shapes(log_text: str) -> list[list[int]]:
    """The reference's stage shapes from its ``Training on image pyramid: [torch.Size([1, 3, H, W]), ...]`` line."""
    line = PYRAMID_LINE.search(log_text)
    return [[int(h), int(w)] for h, w in PYRAMID_SHAPE.findall(line.group(1))] if line else []


def reference_model_dir(run_dir: Path) -> Path:
    """The model folder the reference wrote: ``TrainedModels/<image>/<timestamp>_generation_...``."""
    (folder,) = (run_dir / "TrainedModels").glob("*/*")
    return folder


def run_reference(reference: Path, image_rgb: Path, run_dir: Path, config: Configuration) -> dict:
    """Train the reference on ``image_rgb`` and write its samples (``evaluate_model.py`` also writes 25 each at
    twice the width, twice the height and both, and a reconstruction); the run's figures and sample files."""
    train = reference_command(reference, config.seed, "main_train.py", "--train_mode", "generation", "--not_cuda",
                              "--input_name", str(image_rgb), *reference_arguments(config))  # fmt: skip
    training = run_measured(train, run_dir, run_dir / "train.log", config.threads)
    model_dir = reference_model_dir(run_dir)
    sample = reference_command(reference, config.seed, "evaluate_model.py", "--not_cuda", "--model_dir",
                               str(model_dir), "--num_samples", str(NUM_SAMPLES))  # fmt: skip
    sampling = run_measured(sample, run_dir, run_dir / "sample.log", config.threads)
    samples = (model_dir / "Evaluation" / "random_samples").glob("gen_sample_*.png")
    return {
        "commands": [shlex.join(train), shlex.join(sample)],
        "cwd": str(run_dir),
        "training": dataclasses.asdict(training),
        "sampling": dataclasses.asdict(sampling),
        "stage_seconds": reference_stage_seconds(model_dir),
        "stage_shapes": reference_stage_shapes(Path(training.log).read_text(errors="replace")),
        "samples": [str(p) for p in sorted(samples, key=lambda p: int(p.stem.rsplit("_", 1)[1]))],
    }


def run_medgan(image: Path, run_dir: Path, config: Configuration, cbam: bool) -> dict:
    """Train medgan's bundle on ``image`` and write its samples; the run's figures and sample files."""
    train, sample = medgan_commands(image, run_dir, config, cbam)
    training = run_measured(train, ROOT, run_dir / "train.log", config.threads)
    sampling = run_measured(sample, ROOT, run_dir / "sample.log", config.threads)
    settings = json.loads((run_dir / "train" / "model_settings.json").read_text())["settings"]
    return {
        "commands": [shlex.join(train), shlex.join(sample)],
        "cwd": str(ROOT),
        "training": dataclasses.asdict(training),
        "sampling": dataclasses.asdict(sampling),
        "stage_seconds": medgan_stage_seconds(Path(training.log).read_text(errors="replace")),
        "stage_shapes": settings["stage_shapes"],
        "samples": [str(p) for p in sorted((run_dir / "samples").glob("sample_*.png"))],
    }


def run_one(name: str, inputs: dict[str, Path], run_dir: Path, reference: Path | None, config: Configuration) -> dict:
    """Run ``name`` (a key of :data:`RUNS`) on one image in ``run_dir``."""
    run_dir.mkdir(parents=True)
    load = os.getloadavg()[0]
    record = (
        run_reference(reference, inputs["rgb"], run_dir, config)
        if name == "reference"
        else run_medgan(inputs["gray"], run_dir, config, cbam=name == "medgan")
    )
    return {"load_average_before": load, **record}


# --------------------------------------------------------------------------------------------------- the inputs
def mni_slices() -> dict[str, np.ndarray]:
    """The mid axial, coronal and sagittal slices of medgan's embedded MNI152 T1 as 8-bit pictures (the last axis
    of each cut upwards, as :func:`medgan.data.sample.axial_to_picture` shows axial slices)."""
    from medgan.data.sample import axial_to_picture, sample_volume

    volume = sample_volume().as_tensor()[0]  # (X, Y, Z): right, anterior, superior
    x, y, z = (size // 2 for size in volume.shape)
    cuts = {"mni_axial": volume[:, :, z], "mni_coronal": volume[:, y, :], "mni_sagittal": volume[x, :, :]}
    return {name: np.clip(np.rint(axial_to_picture(c).numpy()), 0, 255).astype(np.uint8) for name, c in cuts.items()}


def prepare_inputs(images: list[Path], with_mni: bool, folder: Path) -> dict[str, dict[str, Path]]:
    """Every input as an 8-bit gray PNG (medgan's input and the metrics' real image) and an RGB copy (the
    reference's), in ``folder``: ``{name: {"gray": path, "rgb": path}}``."""
    pictures = {path.stem: np.asarray(Image.open(path).convert("L")) for path in images}
    if len(pictures) < len(images):
        raise SystemExit("two --images have the same file name; give each image a distinct name.")
    pictures.update(mni_slices() if with_mni else {})
    folder.mkdir(parents=True, exist_ok=True)
    inputs = {}
    for name, picture in pictures.items():
        inputs[name] = {"gray": folder / f"{name}.png", "rgb": folder / f"{name}_rgb.png"}
        Image.fromarray(picture).save(inputs[name]["gray"])
        Image.fromarray(picture).convert("RGB").save(inputs[name]["rgb"])
    return inputs


def finest_shape(image_shape: tuple[int, ...], config: Configuration) -> tuple[int, ...]:
    """The finest training shape (longest side ``max_size``, never enlarged), as medgan computes it."""
    from medgan.data.pyramid import consingan_stage_shapes

    return consingan_stage_shapes(image_shape, 1, config.max_size, config.min_size)[0]  # one stage: the finest


# -------------------------------------------------------------------------------------------------- the metrics
def read_gray(path: str | Path) -> torch.Tensor:
    """A PNG as a gray (1, H, W) float32 image (RGB and RGBA through PIL's luma)."""
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float32))[None]


def unit_range(image: torch.Tensor) -> torch.Tensor:
    """``image`` mapped to [0, 1] between its own 0.5th and 99.5th percentiles, clipped."""
    from monai.transforms import ScaleIntensityRangePercentiles

    scale = ScaleIntensityRangePercentiles(lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True)
    return torch.as_tensor(scale(image)).float()


def real_image(path: Path, shape: tuple[int, ...]) -> torch.Tensor:
    """The input resized with antialiasing to ``shape`` (as medgan's pyramid makes its finest stage), in [0, 1]:
    (1, 1, *shape)."""
    from medgan.layers.resize import resize_antialiased

    return unit_range(resize_antialiased(read_gray(path)[None], shape)[0])[None]


def sample_set(pictures: list[torch.Tensor], shape: tuple[int, ...]) -> torch.Tensor:
    """The samples (each (1, H, W), as :func:`read_gray` reads them) in [0, 1], each resized to ``shape`` where it
    differs (pyramid rounding): (N, 1, *shape)."""
    from medgan.layers.resize import resize_antialiased

    samples = [unit_range(picture)[None] for picture in pictures]
    return torch.cat([s if tuple(s.shape[2:]) == tuple(shape) else resize_antialiased(s, shape) for s in samples])


def sample_metrics(real: torch.Tensor, samples: torch.Tensor) -> dict:
    """Patch SWD (x 1e3, three pyramid levels), SinGAN's diversity and the closest sample's mean absolute distance
    of ``samples`` (N, 1, H, W) to ``real`` (1, 1, H, W), both in [0, 1]."""
    from medgan.metrics.diversity import singan_diversity
    from medgan.metrics.swd import sliced_wasserstein_distance

    min_resolution = min(real.shape[2:]) // 2 ** (SWD_LEVELS - 1)  # halving the shortest side twice: three levels
    swd = sliced_wasserstein_distance(real, samples, min_resolution=min_resolution)
    return {
        "patch_swd_x1e3": swd.value,
        "patch_swd_per_level": swd.details["per_level"],
        "singan_diversity": singan_diversity(samples, real).value,
        "closest_sample_l1": float((samples - real).abs().mean(dim=(1, 2, 3)).min()),
    }


def evaluate_run(record: dict, real: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """The metrics of a run's samples against ``real`` and the samples as compared (for the grid)."""
    pictures = [read_gray(path) for path in record["samples"]]  # each file read once
    samples = sample_set(pictures, tuple(real.shape[2:]))
    sample_shapes = sorted({tuple(picture.shape[1:]) for picture in pictures})
    return {**sample_metrics(real, samples), "sample_shapes": sample_shapes}, samples


# -------------------------------------------------------------------------------------------------- the outputs
def significant(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, without an exponent (``134``, ``7.49``, ``0.0312``)."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def table_row(label: str, result: dict) -> str:
    """One markdown row: wall time, time per stage, peak memory and the three metrics of a run."""
    cells = [
        label,
        significant(result["training"]["seconds"]),
        " / ".join(significant(s) for s in result["stage_seconds"]),
        significant(result["training"]["peak_rss_gib"]),
        significant(result["metrics"]["patch_swd_x1e3"]),
        significant(result["metrics"]["singan_diversity"]),
        significant(result["metrics"]["closest_sample_l1"]),
    ]
    return "| " + " | ".join(cells) + " |"


LEGEND = (
    "Training wall time: the training process, start-up included (the sampling processes' figures are in the JSON). "
    "Time per stage: medgan's ignite stage times; the reference's from each stage folder's first file to its last. "
    "Peak memory: peak RSS of the training process. Metrics of the 25 samples against the real image (the input "
    "resized to the finest training shape), every image rescaled to [0, 1] between its own 0.5th and 99.5th "
    "percentiles and samples resized to the real image's shape where they differ: patch SWD x 1e3 (three Laplacian "
    "levels of 7x7 patches; lower is closer), SinGAN diversity (per-pixel std over the samples / std of the real "
    "image), mean absolute distance of the closest sample to the real image."
)
TABLE_HEADER = (
    "| run | training wall time (s) | time per stage (s) | peak memory (GiB) | patch SWD (x1e3) | SinGAN diversity "
    "| closest-sample L1 |\n|---|---|---|---|---|---|---|"
)


def mean_result(results: list[dict]) -> dict:
    """The mean over images of one run's figures (stage times stage by stage)."""

    def mean(values):
        return float(np.mean(values))

    return {
        "training": {k: mean([r["training"][k] for r in results]) for k in ("seconds", "peak_rss_gib")},
        "stage_seconds": [mean(stage) for stage in zip(*(r["stage_seconds"] for r in results))],
        "metrics": {
            k: mean([r["metrics"][k] for r in results])
            for k in ("patch_swd_x1e3", "singan_diversity", "closest_sample_l1")
        },
    }


def run_label(run: str, configuration: dict) -> str:
    """The table's name of ``run``: with the medgan-only overrides where there are any, and with ``--nc_im 1``
    for a reference trained on one channel."""
    extra = configuration.get("medgan_args") or ()
    if run == "reference":
        channels = configuration.get("reference_channels", Configuration.reference_channels)
        return RUNS[run] if channels == Configuration.reference_channels else f"{RUNS[run]} --nc_im {channels}"
    return f"{RUNS[run]} {' '.join(extra)}" if extra else RUNS[run]


def markdown(results: dict) -> str:
    """The tables: one per image (with each run's stage shapes and sample shapes), and their mean."""
    label = functools.partial(run_label, configuration=results["configuration"])
    lines = [f"# ConSinGAN against its reference, {results['date']}", "", f"`{results['command']}`", "",
             f"Configuration: {json.dumps(results['configuration'])}", "", f"Machine: {json.dumps(results['machine'])}",
             "", LEGEND, ""]  # fmt: skip
    for name, image in results["images"].items():
        lines += [f"## {name} (compared at {'x'.join(map(str, image['real_shape']))})", "", TABLE_HEADER]
        lines += [table_row(label(run), result) for run, result in image["runs"].items()]
        lines.append("")
        for run, result in image["runs"].items():
            stages = " ".join("(" + "x".join(map(str, shape)) + ")" for shape in result["stage_shapes"])
            sizes = ", ".join("x".join(map(str, shape)) for shape in result["metrics"]["sample_shapes"])
            lines.append(f"- {label(run)}: stages {stages}; samples {sizes}")
        lines.append("")
    runs = {run for image in results["images"].values() for run in image["runs"]}
    if len(results["images"]) > 1:
        lines += [f"## Mean over the {len(results['images'])} images", "", TABLE_HEADER]
        for run in (run for run in RUNS if run in runs):
            per_image = [image["runs"][run] for image in results["images"].values() if run in image["runs"]]
            lines.append(table_row(label(run), mean_result(per_image)))
        lines.append("")
    return "\n".join(lines)


def sample_grid(real: torch.Tensor, samples: dict[str, torch.Tensor], path: Path, configuration: dict) -> None:
    """One row per run (named as in the table): the real image, then the run's first :data:`GRID_SAMPLES`
    samples."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.6 * (GRID_SAMPLES + 1), 1.8 * len(samples)), layout="constrained")
    axes = figure.subplots(len(samples), GRID_SAMPLES + 1, squeeze=False)
    for row, (run, images) in zip(axes, samples.items()):
        for column, (ax, image) in enumerate(zip(row, [real[0], *images[:GRID_SAMPLES]])):
            ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title("real" if column == 0 else f"sample {column - 1}", fontsize=7)
        row[0].set_ylabel(run_label(run, configuration), fontsize=7)
    figure.savefig(path, dpi=120)


def write_results(results: dict, out: Path) -> None:
    """Write the JSON and the markdown table."""
    (out / RESULTS_JSON).write_text(json.dumps(results, indent=2))
    (out / RESULTS_MD).write_text(markdown(results))


def reference_commit(reference: Path) -> str | None:
    """The reference copy's git commit, when it is a git clone of its own (not a folder inside another one)."""
    if not (reference / ".git").exists():
        return None
    found = subprocess.run(["git", "-C", str(reference), "rev-parse", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


# ------------------------------------------------------------------------------------------------------ the main
def parse_arguments() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    defaults = Configuration()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, help="a local copy of tohinz/ConSinGAN (for the reference run)")
    parser.add_argument("--images", type=Path, nargs="+", default=[], help="2D images (8-bit PNG/JPEG)")
    parser.add_argument("--mni-slices", action="store_true",
                        help="add the mid axial, coronal and sagittal slices of the embedded MNI152 T1")  # fmt: skip
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--medgan_args", default="",
                        help="more train.json overrides for the medgan runs, e.g. '--noise_amp 0.3'")  # fmt: skip
    for field in CLI_KEYS:
        parser.add_argument(f"--{field}", type=int, default=getattr(defaults, field))
    parser.add_argument("--reference_channels", type=int, choices=(1, 3), default=defaults.reference_channels,
                        help="the reference's channels: 3 (its default, RGB) or 1 (gray, as medgan)")  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / f"consingan-reference-{stamp}")
    args = parser.parse_args()
    for field in CLI_KEYS:  # checked before anything is written (each project would refuse only mid-benchmark)
        if getattr(args, field) < (0 if field == "seed" else 1):
            parser.error(
                f"--{field} must be a whole number from {0 if field == 'seed' else 1}, not {getattr(args, field)}."
            )
    args.runs = args.runs.split(",")
    args.out = args.out.resolve()  # the runs work in other folders
    args.reference = args.reference.resolve() if args.reference else None
    if unknown := sorted(set(args.runs) - set(RUNS)):
        parser.error(f"unknown runs {unknown}; choose among {', '.join(RUNS)}.")
    if not args.images and not args.mni_slices:
        parser.error("give --images, --mni-slices or both.")
    if "reference" in args.runs and not (args.reference and (args.reference / "main_train.py").is_file()):
        parser.error("--reference must be a copy of tohinz/ConSinGAN (with main_train.py); see benchmarks/README.md.")
    if (args.out / "runs").exists():
        parser.error(f"{args.out / 'runs'} exists (medgan would resume from its checkpoints); give a new --out.")
    return args


def configuration(args: argparse.Namespace) -> Configuration:
    """The configuration of the command line; with fewer stages than the recipe's 3 active ones, all stages train
    (what the reference does with ``--train_depth`` above ``--train_stages``; medgan refuses the larger value)."""
    fields = {field: getattr(args, field) for field in CLI_KEYS}
    return Configuration(
        **fields,
        active_stages=min(Configuration.active_stages, args.stages),
        reference_channels=args.reference_channels,
        medgan_args=tuple(shlex.split(args.medgan_args)),
    )


def main() -> None:
    """Run every selected run on every image, one after the other, and write the results after each."""
    args = parse_arguments()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    from run import machine  # benchmarks/run.py's description of the machine

    config = configuration(args)
    inputs = prepare_inputs(args.images, args.mni_slices, args.out / "inputs")
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]),
        "machine": {**machine(), "platform": platform.platform()},  # cpu_cores: os.cpu_count()
        "configuration": dataclasses.asdict(config),
        "reference": args.reference and {"path": str(args.reference), "commit": reference_commit(args.reference)},
        "images": {},
    }
    started = time.perf_counter()
    for name, paths in inputs.items():
        shape = finest_shape(tuple(read_gray(paths["gray"]).shape[1:]), config)
        real = real_image(paths["gray"], shape)
        image = results["images"][name] = {"input": str(paths["gray"]), "real_shape": list(shape), "runs": {}}
        compared = {}
        for run in args.runs:
            print(f"{name}: {RUNS[run]} ...", flush=True)
            record = run_one(run, paths, args.out / "runs" / name / run, args.reference, config)
            record["metrics"], compared[run] = evaluate_run(record, real)
            image["runs"][run] = record
            results["total_seconds"] = time.perf_counter() - started
            write_results(results, args.out)
        sample_grid(real, compared, args.out / f"samples_{name}.png", results["configuration"])
    print((args.out / RESULTS_MD).read_text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == LAUNCH_REFERENCE:
        launch_reference(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        main()
