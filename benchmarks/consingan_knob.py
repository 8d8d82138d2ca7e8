"""ConSinGAN's diversity/fidelity knob: SinGAN diversity against patch SWD of harness runs, one panel per image.

Reads the JSON that ``benchmarks/consingan_reference.py`` writes (no training here) and plots every chosen run as a
point, lower patch SWD (closer to the image's patch statistics) to the left, more diverse samples up::

    python benchmarks/consingan_knob.py --out bundles/consingan/docs/images/padding_knob.png \\
        "reference=benchmarks/results/consingan-reference-20261207/consingan_reference.json:reference" \\
        "'same'=benchmarks/results/consingan-reference-20261207/consingan_reference.json:medgan-nocbam" ...

Each run is ``LABEL=JSON:RUN`` (``RUN`` a key of the JSON's ``runs``, ``medgan-nocbam`` when left out). A run
missing an image is left out of that image's panel; ``--images`` picks the panels. The reference is drawn as a star,
and the region that beats it on both numbers (issue 15's target) is shaded.
"""

import argparse
import json
from pathlib import Path


def parse_run(text: str) -> tuple[str, Path, str]:
    """``LABEL=JSON[:RUN]`` -> (label, path, run)."""
    label, _, where = text.partition("=")
    path, _, run = where.partition(":")
    if not label or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not LABEL=JSON[:RUN]; e.g. 'same=results/x.json:medgan-nocbam'.")
    return label, Path(path), run or "medgan-nocbam"


def points(runs: list[tuple[str, Path, str]]) -> dict[str, list[tuple[str, float, float, bool]]]:
    """Per image: (label, patch SWD x1e3, diversity, is the reference) of every run that has it."""
    per_image: dict[str, list[tuple[str, float, float, bool]]] = {}
    for label, path, run in runs:
        images = json.loads(path.read_text())["images"]
        for image, record in images.items():
            if run in record["runs"]:
                metrics = record["runs"][run]["metrics"]
                entry = (label, metrics["patch_swd_x1e3"], metrics["singan_diversity"], run == "reference")
                per_image.setdefault(image, []).append(entry)
    return per_image


def plot(per_image: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(per_image), figsize=(5.5 * len(per_image), 4.4), squeeze=False)
    for axis, (image, entries) in zip(axes[0], sorted(per_image.items()), strict=True):
        for label, swd, diversity, reference in entries:
            if reference:  # closer and more diverse than the reference: the target
                axis.fill_between([0, swd], diversity, 1e3, color="seagreen", alpha=0.12)
            axis.scatter(swd, diversity, marker="*" if reference else "o", s=160 if reference else 50,
                         color="crimson" if reference else "steelblue")  # fmt: skip
            axis.annotate(label, (swd, diversity), textcoords="offset points", xytext=(5, 4), fontsize=8)
        swds = [entry[1] for entry in entries]
        diversities = [entry[2] for entry in entries]
        axis.set_xlim(0.9 * min(swds), 1.08 * max(swds))
        axis.set_ylim(0.9 * min(diversities), 1.08 * max(diversities))
        axis.set_title(image)
        axis.set_xlabel("patch SWD x1e3 (lower: closer to the image)")
        axis.set_ylabel("SinGAN diversity (higher: more varied)")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=parse_run, help="LABEL=JSON[:RUN]")
    parser.add_argument("--out", type=Path, required=True, help="the figure (PNG)")
    parser.add_argument("--images", nargs="+", help="the images to plot (default: all)")
    args = parser.parse_args()
    per_image = points(args.runs)
    if args.images:
        per_image = {image: per_image[image] for image in args.images}
    for image, entries in sorted(per_image.items()):
        for label, swd, diversity, _ in entries:
            print(f"{image}\t{label}\tpatch SWD {swd:.1f}\tdiversity {diversity:.3f}")
    plot(per_image, args.out)


if __name__ == "__main__":
    main()
