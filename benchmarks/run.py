"""Training and inference speed and peak memory of every bundle, through the bundles' own configs.

    python benchmarks/run.py                      # the default set on the CPU (and on the GPU when there is one)
    python benchmarks/run.py --all                # also the long cases (3D ConSinGAN at max_size 96 and 128)
    python benchmarks/run.py --only consingan     # cases whose name contains a string
    python benchmarks/run.py --device cpu --threads 2 --out benchmarks/results

Every measurement runs in its own process (so its peak memory is its own): the process parses the bundle's
``train.json`` with the case's overrides exactly as ``python -m monai.bundle run`` would, builds the ``trainer``
with all the bundle's handlers, times generator calls (``trainer.generate`` on ``trainer.sample_latents``, the
networks in eval mode under ``torch.inference_mode``), then trains: ``warmup`` untimed iterations, then
``iterations`` timed ones. Peak memory is the process's peak RSS on the CPU (``ru_maxrss``, which includes the
~0.5 GB of the imported libraries) and ``torch.cuda.max_memory_allocated`` on a GPU, where the clock is read only
after ``torch.cuda.synchronize()``. Results go to ``<out>/benchmark-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_TAG = "BENCHMARK_RESULT "
MIN_INFERENCE_SECONDS = 2.0  # timed generator calls continue until this long (at most MAX_INFERENCE_CALLS)
MAX_INFERENCE_CALLS = 20

sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]  # the cases; medgan even when not installed
from cases import CASES, Case  # noqa: E402


# ------------------------------------------------------------------------------------------------------ the worker
def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def measure(case: Case, switch_overrides: dict, device: str, threads: int) -> dict:
    """Run one case with one switch setting in this process; returns speeds and peak memory."""
    import torch
    from ignite.engine import Events
    from monai.bundle import ConfigParser

    torch.set_num_threads(threads)
    cuda = device.startswith("cuda")

    def clock() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    started = time.perf_counter()
    bundle_dir = ROOT / "bundles" / case.bundle
    parser = ConfigParser()
    parser.read_config(str(bundle_dir / "configs" / "train.json"))
    with tempfile.TemporaryDirectory() as output_dir:
        parser.update(
            {
                "bundle_root": str(bundle_dir),
                "output_dir": output_dir,
                "device": f"$torch.device('{device}')",
                **case.overrides,
                **switch_overrides,
            }
        )
        parser.get_parsed_content("imports")
        parser.get_parsed_content("initialize")
        trainer = parser.get_parsed_content("train#trainer")
        if case.finest_stage:  # as a run resumed at the start of the last stage: all stages built
            stages = trainer.state.max_epochs
            length = trainer.state.epoch_length
            trainer.load_state_dict(
                {"iteration": (stages - 1) * length, "epoch_length": length, "max_epochs": stages, "num_stages": stages}
            )
        if case.final_resolution_stage:  # as a progressive run resumed after its last stage's fade-in
            schedule = trainer.schedule
            last_stage_half = schedule.stage_starts[-1] + schedule.iterations_per_stage[-1] // 2 + 1
            trainer.load_state_dict(
                {
                    "iteration": last_stage_half,
                    "epoch_length": trainer.state.epoch_length,
                    "max_epochs": trainer.state.max_epochs,
                }
            )
        batch_size = int(parser.get_parsed_content("batch_size"))
        setup_s = time.perf_counter() - started

        # inference: generator calls in eval mode
        trainer.generator.eval()
        calls, t_first = 0, clock()
        with torch.inference_mode(), trainer.precision.autocast():
            trainer.generate(trainer.sample_latents(case.inference_batch))  # warm-up (and compilation)
            t0 = clock()
            while calls < MAX_INFERENCE_CALLS and (calls == 0 or clock() - t0 < MIN_INFERENCE_SECONDS):
                trainer.generate(trainer.sample_latents(case.inference_batch))
                calls += 1
            inference_s = clock() - t0
        inference_warmup_s = t0 - t_first
        trainer.generator.train()
        peak_inference = torch.cuda.max_memory_allocated() / 1024**3 if cuda else _peak_rss_gb()
        if cuda:
            torch.cuda.reset_peak_memory_stats()

        # training: warm-up iterations, then timed ones
        first = trainer.state.iteration
        marks: dict[str, float] = {"start": clock()}

        def on_started(engine) -> None:
            if engine.state.iteration - first == case.warmup + 1:
                marks["timed"] = clock()

        def on_completed(engine) -> None:
            if engine.state.iteration - first == case.warmup + case.iterations:
                marks["end"] = clock()
                engine.terminate()

        trainer.add_event_handler(Events.ITERATION_STARTED, on_started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, on_completed)
        trainer.run()
        peak_training = torch.cuda.max_memory_allocated() / 1024**3 if cuda else _peak_rss_gb()
    seconds_per_iteration = (marks["end"] - marks["timed"]) / case.iterations
    return {
        "train_iterations_per_s": 1.0 / seconds_per_iteration,
        "train_images_per_s": batch_size / seconds_per_iteration,
        "train_s_per_iteration": seconds_per_iteration,
        "inference_samples_per_s": calls * case.inference_batch / inference_s,
        "peak_memory_train_gb": peak_training,
        "peak_memory_inference_gb": peak_inference,
        "memory_kind": "torch.cuda.max_memory_allocated" if cuda else "peak RSS (ru_maxrss)",
        "setup_s": setup_s,
        "inference_warmup_s": inference_warmup_s,
        "train_warmup_s": marks["timed"] - marks["start"],
        "batch_size": batch_size,
    }


# ------------------------------------------------------------------------------------------------------ the parent
def machine() -> dict:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu = names[0] if names else cpu
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    info = {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "ram_gb": round(ram_gb, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def run_case(case: Case, switch: str, overrides: dict, device: str, threads: int, timeout: int) -> dict:
    """Measure one case and switch in a fresh process; the result, or the error it stopped with."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    request = {"case": case.name, "switch": switch, "device": device, "threads": threads}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(request)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"over the {timeout} s limit"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if done.returncode != 0 or not lines:
        last = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": last[-1] if last else f"exit status {done.returncode}"}
    result = json.loads(lines[-1][len(RESULT_TAG) :])
    result["wall_s"] = time.perf_counter() - started
    return result


def variants(case: Case, device: str) -> list[tuple[str, dict]]:
    """The baseline and each switch of ``case`` that applies on ``device``."""
    cuda = device.startswith("cuda")
    return [("baseline", {})] + [(name, o) for name, o in case.switches.items() if cuda or name not in case.gpu_only]


def markdown(results: list[dict], info: dict) -> str:
    """The results as a Markdown table, each switch compared with its case's baseline on the same device."""
    lines = [
        f"Measured {info['date']} on {info['cpu']} ({info['cpu_cores']} cores, {info['ram_gb']} GB RAM), "
        f"GPU: {info['gpu'] or 'none'}; torch {info['torch']}, {info['threads']} threads; "
        f"load average {info['load_before']} before and {info['load_after']} after; "
        f"whole run {info['total_s'] / 60:.1f} min.",
        "",
        "| bundle | configuration | switch | device | train it/s | train images/s | vs baseline (speed) "
        "| inference samples/s | peak memory train (GiB) | vs baseline (memory) | peak memory inference (GiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    baselines = {(r["case"], r["device"]): r for r in results if r["switch"] == "baseline" and "error" not in r}
    for r in results:
        bundle, setting = r["case"].split(" ", 1)
        head = f"| {bundle} | {setting} | {r['switch']} | {r['device']} "
        if "error" in r:
            lines.append(head + f"| failed: {r['error']} |||||||")
            continue
        base = baselines.get((r["case"], r["device"]))
        speed = memory = ""
        if base is not None and r["switch"] != "baseline":
            speed = f"{r['train_iterations_per_s'] / base['train_iterations_per_s']:.2f}x"
            memory = f"{r['peak_memory_train_gb'] - base['peak_memory_train_gb']:+.2f} GiB"
        lines.append(
            head + f"| {r['train_iterations_per_s']:.3g} | {r['train_images_per_s']:.3g} | {speed} "
            f"| {r['inference_samples_per_s']:.3g} | {r['peak_memory_train_gb']:.2f} | {memory} "
            f"| {r['peak_memory_inference_gb']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--all", action="store_true", help="also the long cases (not in the default set)")
    args.add_argument("--only", default="", help="only cases whose name contains this string")
    args.add_argument("--switches", default="", help="comma-separated switches to measure (default: all)")
    args.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CPU, and CUDA if any")
    args.add_argument("--threads", type=int, default=2, help="torch (OpenMP) threads of each measurement")
    args.add_argument("--timeout", type=int, default=3600, help="seconds one measurement may take")
    args.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON and .md")
    args.add_argument("--worker", help=argparse.SUPPRESS)
    opts = args.parse_args()

    if opts.worker:
        request = json.loads(opts.worker)
        case = next(c for c in CASES if c.name == request["case"])
        overrides = dict(variants(case, request["device"]))[request["switch"]]
        print(RESULT_TAG + json.dumps(measure(case, overrides, request["device"], request["threads"])), flush=True)
        return

    import torch

    devices = ["cpu", "cuda"] if opts.device == "auto" and torch.cuda.is_available() else [opts.device]
    devices = ["cpu" if d == "auto" else d for d in devices]
    wanted = {s.strip() for s in opts.switches.split(",") if s.strip()}
    cases = [c for c in CASES if (opts.all or c.default) and opts.only in c.name]
    info = {**machine(), "threads": opts.threads, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    info["load_before"] = round(os.getloadavg()[0], 2)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"benchmark-{datetime.now(timezone.utc):%Y%m%d-%H%M}"
    started, results = time.perf_counter(), []
    for device in devices:
        for case in cases:
            for switch, overrides in variants(case, device):
                if wanted and switch != "baseline" and switch not in wanted:
                    continue
                result = run_case(case, switch, overrides, device, opts.threads, opts.timeout)
                results.append({"case": case.name, "switch": switch, "device": device, **result})
                shown = result.get("error") or f"{result['train_s_per_iteration']:.3g} s/it"
                print(f"{case.name} | {switch} | {device}: {shown}", flush=True)
                info["load_after"] = round(os.getloadavg()[0], 2)
                info["total_s"] = time.perf_counter() - started
                record = {"machine": info, "cases": [dataclasses.asdict(c) for c in cases], "results": results}
                stem.with_suffix(".json").write_text(json.dumps(record, indent=1))
                stem.with_suffix(".md").write_text(markdown(results, info))
    print(f"\n{stem.with_suffix('.md')} ({info['total_s'] / 60:.1f} min):\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
