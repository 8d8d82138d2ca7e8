"""Held-out sample quality of the multi-image bundles with and without augmentation, at an equal training budget.

    python benchmarks/quality.py                                   # dcgan and stylegan2: none, ada, diffaugment
    python benchmarks/quality.py --bundles dcgan sngan pggan stylegan stylegan2 --kimg 20
    python benchmarks/quality.py --dataset_dir /data/slices        # your own folder, split the same way
    python benchmarks/quality.py --bundles stylegan2 --augment ada --ada_ops flip integer_translation scale

The images (default: the embedded MNI152 T1's 80 axial slices; ``--slice_step N``: every N-th of them) are split
alternately into training and held-out halves, written as ``.npy`` slices under ``<out>/data/{train,heldout}``.
Neighbouring slices of one brain are alike, so with every slice the held-out half measures fit to the anatomy more
than memorisation; a larger step leaves held-out slices further from the training ones. Each bundle trains on the
training half with ``python -m monai.bundle run training`` for the same number of real images (``--kimg`` thousand),
once per augmentation, then is evaluated with the bundle's own ``evaluate.json`` (``python -m monai.bundle run
evaluating``, ``--dataset_dir`` the held-out half): patch sliced Wasserstein distance, MMD and intensity-histogram
distance of its samples to the held-out slices (lower is closer), and the same against the training half (a model
that only memorised would be much closer to it). ADA's strength may rise from 0 to 1 within a quarter of the budget
(``--ada_kimg``, by default kimg / 4: the reference's 500 kimg is for runs of thousands of kimg). Every run is a
separate process, one after the other; the table (``quality.md``), the raw figures (``quality.json``) and each run's
last sample grid go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # medgan even when not installed

from medgan.augment.ada import ADA_OPS  # noqa: E402

FIGURES = ("sliced_wasserstein_distance", "mmd", "intensity_histogram_distance")
SHORT = {"sliced_wasserstein_distance": "patch SWD", "mmd": "MMD", "intensity_histogram_distance": "histogram"}
SIZES = {  # the bundles' CPU quick-start widths at 64 px
    "dcgan": {"image_size": 64, "batch_size": 16},
    "sngan": {"image_size": 64, "batch_size": 16},
    "stylegan2": {"image_size": 64, "batch_size": 16, "max_channels": 32},
    "pggan": {"image_size": 64, "batch_size": 16, "max_channels": 32},
    "stylegan": {"image_size": 64, "batch_size": 16, "max_channels": 32},
}
PROGRESSIVE = ("pggan", "stylegan")


def split(dataset_dir: str | None, out: Path, step: int = 1) -> tuple[Path, Path, int]:
    """Every ``step``-th slice, alternated into ``out/data/train`` and ``out/data/heldout``; the number of training
    slices."""
    from medgan.data import read_images

    slices = read_images(dataset_dir, 2)[::step]
    folders = out / "data" / "train", out / "data" / "heldout"
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for index, image in enumerate(slices):
        np.save(folders[index % 2] / f"slice_{index:03d}.npy", np.asarray(image[0], dtype=np.float32))
    return folders[0], folders[1], len(slices[0::2])


AUGMENTS = ("none", "ada", "diffaugment")


def budget(bundle: str, kimg: float, num_train: int, batch_size: int) -> dict:
    """Overrides giving ``kimg`` thousand real images: epochs of the training half, or images per stage."""
    images = int(kimg * 1000)
    if bundle in PROGRESSIVE:
        stages = 5  # 4, 8, 16, 32, 64 px
        return {"images_per_stage": max(images // stages, batch_size), "images_per_stage_per_resolution": {},
                "batch_size_per_resolution": {}, "save_every_iterations": 0, "sample_every_iterations": 0}  # fmt: skip
    per_epoch = max(batch_size, num_train // batch_size * batch_size)  # the loader drops the last partial batch
    return {"max_epochs": max(1, round(images / per_epoch)), "save_every": 10**6, "sample_every": 10**6}


def run_overrides(bundle: str, augment: str, args: argparse.Namespace, num_train: int) -> dict:
    """The training command's overrides for one run: the bundle's CPU size, the budget and the augmentation."""
    overrides = {**SIZES[bundle], **budget(bundle, args.kimg, num_train, SIZES[bundle]["batch_size"])}
    if augment != "none":
        overrides["augment"] = augment
    if augment == "ada":
        overrides["ada_kimg"] = args.kimg / 4 if args.ada_kimg is None else args.ada_kimg
        if args.ada_ops is not None:
            overrides["ada_ops"] = list(args.ada_ops)
    return overrides


def run(command: list[str], log: Path) -> float:
    """Run ``command`` (its output into ``log``); its wall time in seconds. A failure stops the benchmark."""
    started = time.perf_counter()
    with open(log, "w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{log.read_text()[-3000:]}")
    return time.perf_counter() - started


def bundle_run(*args: str, **overrides: object) -> list[str]:
    command = [sys.executable, "-m", "monai.bundle", "run", *args]
    for key, value in overrides.items():
        command += [f"--{key}", json.dumps(value) if isinstance(value, (dict, list)) else str(value)]
    return command


def evaluate(bundle: str, model_dir: Path, real_dir: Path, out: Path) -> dict:
    configs = [str(ROOT / "bundles" / bundle / "configs" / name) for name in ("inference.json", "evaluate.json")]
    out.parent.mkdir(parents=True, exist_ok=True)
    run(bundle_run("evaluating", config_file=repr(configs), ckpt_path=model_dir / "model.pt", dataset_dir=real_dir,
                   output_dir=out, overwrite=True, seed=0), out.with_suffix(".log"))  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    return {name: metrics["metrics"][name]["value"] for name in FIGURES if name in metrics["metrics"]}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked before anything is written or trained (one sentence from argparse otherwise)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", nargs="+", default=["dcgan", "stylegan2"], choices=sorted(SIZES))
    parser.add_argument("--augment", nargs="+", default=list(AUGMENTS), choices=AUGMENTS)
    parser.add_argument("--kimg", type=float, default=8.0, help="thousands of real images per run")
    parser.add_argument(
        "--ada_kimg",
        type=float,
        default=None,
        help="ADA's speed: thousands of real images for p to go from 0 to 1 (default: kimg / 4)",
    )
    parser.add_argument(
        "--ada_ops",
        nargs="+",
        default=None,
        choices=ADA_OPS,
        help="ADA's transforms (default: the bundles' ada_ops, every one but cutout)",
    )
    parser.add_argument("--dataset_dir", default=None, help="images to split (default: the embedded slices)")
    parser.add_argument(
        "--slice_step",
        type=int,
        default=1,
        help="use every N-th slice before the split: fewer, further apart, so held-out slices differ more from training"
        " ones (default 1: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality")
    args = parser.parse_args(argv)
    if args.kimg <= 0 or (args.ada_kimg is not None and args.ada_kimg <= 0):
        parser.error("--kimg and --ada_kimg are thousands of images, above 0; pass e.g. --kimg 8")
    if args.slice_step < 1:
        parser.error(f"--slice_step is a step between slices, at least 1 (1: every slice), got {args.slice_step}")
    for option, value in (("--ada_kimg", args.ada_kimg), ("--ada_ops", args.ada_ops)):
        if value is not None and "ada" not in args.augment:
            parser.error(f"{option} is for ADA but --augment is {' '.join(args.augment)}; add ada to --augment")
    return args


def main() -> None:
    args = parse_arguments()
    args.out.mkdir(parents=True, exist_ok=True)
    train_dir, heldout_dir, num_train = split(args.dataset_dir, args.out, args.slice_step)
    rows = []
    for bundle in args.bundles:
        for augment in args.augment:
            name = f"{bundle}-{augment}"
            run_dir = args.out / "runs" / name
            shutil.rmtree(run_dir, ignore_errors=True)
            overrides = run_overrides(bundle, augment, args, num_train)
            config = ROOT / "bundles" / bundle / "configs" / "train.json"
            print(f"training {name} ...", flush=True)
            seconds = run(bundle_run("training", config_file=config, dataset_dir=train_dir, output_dir=run_dir,
                                     seed=args.seed, **overrides), args.out / f"{name}.log")  # fmt: skip
            held = evaluate(bundle, run_dir, heldout_dir, args.out / "eval" / f"{name}-heldout")
            seen = evaluate(bundle, run_dir, train_dir, args.out / "eval" / f"{name}-train")
            strengths = [line.split(",")[1] for line in (run_dir / "losses.csv").read_text().splitlines()[1:]]
            final_p = float(strengths[-1]) if augment != "none" else 0.0
            grid = sorted((run_dir / "samples").glob("*.png"))
            if grid:
                shutil.copy(grid[-1], args.out / f"{name}.png")
            rows.append({"bundle": bundle, "augment": augment, "train_s": round(seconds, 1), "final_p": final_p,
                         "heldout": held, "train": seen})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "kimg": args.kimg,
        "training_slices": num_train,
        "command": " ".join(["python", "benchmarks/quality.py", *sys.argv[1:]]),
    }
    (args.out / "quality.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"`{meta['command']}` ({meta['date']}, {meta['machine']}; {num_train} training slices, "
             f"{args.kimg:g} kimg per run)", "",
             "| bundle | augment | train s | final p | " + " | ".join(f"{SHORT[f]} held-out" for f in FIGURES)
             + " | " + " | ".join(f"{SHORT[f]} train" for f in FIGURES) + " |",
             "|---|---|---|---|" + "---|" * (2 * len(FIGURES))]  # fmt: skip
    for row in rows:
        cells = [f"{row[part].get(name, float('nan')):.4g}" for part in ("heldout", "train") for name in FIGURES]
        lines.append(f"| {row['bundle']} | {row['augment']} | {row['train_s']} | {row['final_p']:.3f} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
