"""What CBAM costs a ConSinGAN training iteration: the bundle with and without CBAM, interleaved in one process.

    python benchmarks/consingan_cbam_cost.py                                  # 2D, the harness's configuration
    python benchmarks/consingan_cbam_cost.py --set spatial_dims=3 max_size=32 num_scales=4
    python benchmarks/consingan_cbam_cost.py --set cbam_variant=sequential

Both trainers are built from the bundle's ``train.json`` (every handler, as ``python -m monai.bundle run training``
builds them) with the overrides of ``--set``, set up as a run resumed at the start of its finest stage (all stages
built; the stage that costs), warmed up for three iterations, then timed in alternating blocks of ``--block``
iterations, ``--rounds`` times, so that both see the same machine; a VM's run-to-run spread (up to 27 % here)
cancels out of the ratio. Prints the median seconds per iteration of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = {"spatial_dims": 2, "max_size": 96, "min_size": 12, "num_scales": 6, "iterations_per_stage": 500,
           "num_features": 32}  # fmt: skip
"""The side-by-side harness's configuration (benchmarks/consingan_reference.py)."""


def finest_stage_trainer(overrides: dict, output_dir: str):
    """The bundle's trainer with ``overrides``, as a run resumed at the start of its last stage."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / "consingan" / "configs" / "train.json"))
    parser.update({"bundle_root": str(ROOT / "bundles" / "consingan"), "output_dir": output_dir,
                   "device": "$torch.device('cpu')", **overrides})  # fmt: skip
    parser.get_parsed_content("imports")
    parser.get_parsed_content("initialize")
    trainer = parser.get_parsed_content("train#trainer")
    stages, length = trainer.state.max_epochs, trainer.state.epoch_length
    trainer.load_state_dict(
        {"iteration": (stages - 1) * length, "epoch_length": length, "max_epochs": stages, "num_stages": stages}
    )
    trainer.state.epoch, trainer.state.iteration = stages, (stages - 1) * length
    trainer.start_stage()
    return trainer


def parse_value(text: str):
    """``3`` -> 3, ``true`` -> True, ``residual`` -> "residual"."""
    try:
        return json.loads(text.lower() if text.lower() in ("true", "false") else text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="train.json overrides")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--block", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {**HARNESS, **{k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}}
    trainers = {}
    with tempfile.TemporaryDirectory() as folder:
        for cbam in (False, True):
            trainers[cbam] = finest_stage_trainer({**overrides, "cbam": cbam}, str(Path(folder) / str(cbam)))
            for _ in range(3):
                trainers[cbam]._iteration(trainers[cbam], None)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for cbam, trainer in trainers.items():
                for _ in range(args.block):
                    start = time.perf_counter()
                    trainer._iteration(trainer, None)
                    times[cbam].append(time.perf_counter() - start)
    medians = {cbam: statistics.median(values) for cbam, values in times.items()}
    print(json.dumps({"overrides": overrides, "threads": args.threads, "seconds_per_iteration_without_cbam":
                      medians[False], "seconds_per_iteration_with_cbam": medians[True],
                      "ratio": medians[True] / medians[False]}))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
