"""3D ConSinGAN speed side by side: medgan's bundle and the seed project Pinhio/ConSinGAN_ND on one volume.

    python benchmarks/consingan_seed_3d.py --seed_project /path/to/ConSinGAN_ND
    python benchmarks/consingan_seed_3d.py --seed_project /path/to/ConSinGAN_ND --runs medgan \
        --medgan_args "--amp bf16" --out /tmp/seed-3d-bf16

Both train on the seed's own ``data/small_brain.npy`` (20 x 110 x 110; ``--volume`` for another ``.npy``) at one
configuration, one after the other, each in its own process with the same number of torch threads and no GPU:
``--stages`` stages of ``--iterations`` iterations, ``--channels`` feature channels, the seed's defaults for the
rest (3 active stages, 3 layers, kernel 3, padding 1, lr 5e-4, ``Dsteps``/``Gsteps`` 3, ``noise_amp`` 0.1, batch
norm in both networks, CBAM on). medgan gets the same values (``--discriminator_batch_norm true
--generator_batch_norm true``, ``max_size`` 250, ``min_size`` 25) and ``--medgan_args`` on top.

- ``seed``: the seed's ``trainer.train`` on the volume, in this file's launcher (``--launch-seed``), with its
  ``config.json`` values overridden; nothing in the copy is changed. The launcher times each iteration of the
  seed's loop (the interval between two items of its ``tqdm`` progress bar).
- ``medgan``: the bundle's ``train.json`` parsed as ``python -m monai.bundle run training`` does (``--launch-medgan``),
  with every handler, timed at ignite's ITERATION_STARTED / ITERATION_COMPLETED events.

What is compared is the finest stage's **median seconds per iteration** (the first iteration of a stage left out:
it includes one-off work such as the seed's sample saving); the stages' shapes differ (the seed shrinks the depth
of a 20-slice volume with the other axes, medgan keeps an axis at ``min_size`` once it gets there), the finest
stage is the volume itself in both. Wall time and peak RSS of each process are recorded too. Results go to
``--out`` as ``consingan_seed_3d.json`` and ``.md``.

Getting the seed project: ``git clone https://github.com/Pinhio/ConSinGAN_ND``; it needs numpy, torch and tqdm only.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from consingan_reference import ROOT, run_measured  # noqa: E402

LAUNCH_SEED = "--launch-seed"
LAUNCH_MEDGAN = "--launch-medgan"
RESULT_TAG = "ITERATION_SECONDS "
RUNS = ("seed", "medgan")


# ------------------------------------------------------------------------------------------------ the launchers
def launch_seed(copy: str, volume: str, settings: str) -> None:
    """Train the seed project on ``volume`` in this process (cwd: the run folder) and print its iteration times."""
    import numpy as np
    import torch

    sys.path.insert(0, copy)
    import config_loader
    import trainer as seed_trainer

    overrides = json.loads(settings)
    torch.manual_seed(overrides.pop("seed"))
    config = config_loader.Config({**json.loads((Path(copy) / "config.json").read_text()), **overrides})
    stages: list[list[float]] = []

    class TimedBar:
        """Stands in for the seed's ``tqdm(range(epochs))``: one list of iteration durations per stage."""

        def __init__(self, iterable) -> None:
            self.iterable = iterable
            stages.append([])

        def __iter__(self):
            previous = None
            for item in self.iterable:
                now = time.perf_counter()
                if previous is not None:
                    stages[-1].append(now - previous)
                previous = now
                yield item
            stages[-1].append(time.perf_counter() - previous)

        def set_description(self, text: str) -> None:
            print(text, file=sys.stderr)

    seed_trainer.tqdm = TimedBar
    seed_trainer.train(np.load(volume), config)
    print(RESULT_TAG + json.dumps({"iteration_seconds": stages}), flush=True)


def launch_medgan(overrides: str) -> None:
    """Train medgan's bundle with ``overrides`` in this process and print its iteration times."""
    from ignite.engine import Events
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / "consingan" / "configs" / "train.json"))
    parser.update({"bundle_root": str(ROOT / "bundles" / "consingan"), **json.loads(overrides)})
    parser.get_parsed_content("imports")
    parser.get_parsed_content("initialize")
    trainer = parser.get_parsed_content("train#trainer")
    stages: list[list[float]] = []
    started: list[float] = []

    @trainer.on(Events.EPOCH_STARTED)
    def new_stage(_engine) -> None:
        stages.append([])

    @trainer.on(Events.ITERATION_STARTED)
    def start(_engine) -> None:
        started[:] = [time.perf_counter()]

    @trainer.on(Events.ITERATION_COMPLETED)
    def complete(_engine) -> None:
        stages[-1].append(time.perf_counter() - started[0])

    trainer.run()
    print(RESULT_TAG + json.dumps({"iteration_seconds": stages}), flush=True)


# ------------------------------------------------------------------------------------------------------ the runs
def iteration_seconds(log: str) -> list[list[float]]:
    """The per-stage iteration durations a launcher printed."""
    lines = [line for line in log.splitlines() if line.startswith(RESULT_TAG)]
    return json.loads(lines[-1][len(RESULT_TAG) :])["iteration_seconds"]


def finest_median(stages: list[list[float]]) -> float:
    """Median seconds per iteration of the last stage, its first iteration left out when there are others."""
    last = stages[-1]
    return statistics.median(last[1:] if len(last) > 1 else last)


def seed_settings(args: argparse.Namespace) -> dict:
    return {"dimension": 3, "epochs": args.iterations, "num_scales": args.stages,
            "num_feature_channels": args.channels, "out_dir": "out", "seed": args.seed}  # fmt: skip


def medgan_settings(args: argparse.Namespace, run_dir: Path) -> dict:
    settings = {"image": str(args.volume), "spatial_dims": 3, "num_scales": args.stages,
                "iterations_per_stage": args.iterations, "num_features": args.channels, "max_size": 250,
                "min_size": 25, "discriminator_batch_norm": True, "generator_batch_norm": True, "cbam": True,
                "seed": args.seed, "output_dir": str(run_dir / "train"),
                "device": "$torch.device('cpu')"}  # fmt: skip
    words = shlex.split(args.medgan_args)
    for key, value in zip(words[::2], words[1::2]):
        settings[key.lstrip("-")] = json.loads(value.lower()) if value.lower() in ("true", "false") else value
    return settings


def run(name: str, args: argparse.Namespace, run_dir: Path) -> dict:
    run_dir.mkdir(parents=True)
    me = [sys.executable, str(Path(__file__).resolve())]
    if name == "seed":
        command = [*me, LAUNCH_SEED, str(args.seed_project), str(args.volume), json.dumps(seed_settings(args))]
    else:
        command = [*me, LAUNCH_MEDGAN, json.dumps(medgan_settings(args, run_dir))]
    measured = run_measured(command, run_dir, run_dir / "train.log", args.threads)
    stages = iteration_seconds(Path(measured.log).read_text(errors="replace"))
    return {"command": shlex.join(command), "wall_seconds": measured.seconds,
            "peak_rss_gib": measured.peak_rss_gib, "iteration_seconds": stages,
            "finest_median_seconds": finest_median(stages), "log": measured.log}  # fmt: skip


def table(results: dict) -> str:
    rows = ["| run | finest stage: median s / iteration | vs seed | stage medians (s / iteration) | wall time (s) | "
            "peak memory (GiB) |", "|---|---|---|---|---|---|"]  # fmt: skip
    seed = results.get("seed", {}).get("finest_median_seconds")
    for record in results.values():
        ratio = f"{record['finest_median_seconds'] / seed:.2f}x" if seed else ""
        medians = " / ".join(f"{finest_median([stage]):.2f}" for stage in record["iteration_seconds"])
        rows.append(f"| {record['label']} | {record['finest_median_seconds']:.2f} | {ratio} | {medians} | "
                    f"{record['wall_seconds']:.0f} | {record['peak_rss_gib']:.2f} |")  # fmt: skip
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed_project", type=Path, required=True, help="a local copy of Pinhio/ConSinGAN_ND")
    parser.add_argument("--volume", type=Path, help="a 3D .npy volume (default: the seed's data/small_brain.npy)")
    parser.add_argument("--runs", default="seed,medgan", help="any of seed, medgan, comma-separated")
    parser.add_argument("--medgan_args", default="", help='more train.json overrides for medgan, e.g. "--amp bf16"')
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "consingan-seed-3d")
    args = parser.parse_args()
    args.volume = args.volume or args.seed_project / "data" / "small_brain.npy"
    runs = [name.strip() for name in args.runs.split(",") if name.strip()]
    if not runs or set(runs) - set(RUNS):
        parser.error(f"--runs takes any of {', '.join(RUNS)}, not {args.runs!r}.")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} already holds results; pass a new --out.")
    results = {}
    for name in runs:
        label = "seed (Pinhio/ConSinGAN_ND)" if name == "seed" else f"medgan {args.medgan_args}".strip()
        print(f"{label} ...", flush=True)
        results[name] = {"label": label, **run(name, args, args.out / "runs" / name)}
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.processor()
              or platform.machine(), "command": shlex.join(sys.argv), "configuration": vars(args) | {
              "seed_project": str(args.seed_project), "volume": str(args.volume), "out": str(args.out)},
              "runs": results}  # fmt: skip
    (args.out / "consingan_seed_3d.json").write_text(json.dumps(record, indent=2))
    (args.out / "consingan_seed_3d.md").write_text(f"`{record['command']}`, {record['date']}\n\n" + table(results))
    print(table(results))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == LAUNCH_SEED:
        launch_seed(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == LAUNCH_MEDGAN:
        launch_medgan(sys.argv[2])
    else:
        main()
