"""``medgan.metrics.evaluate_generator`` and ``evaluate_single_image_generator`` in process: what metrics.json and
report.png hold, and the one-sentence refusals."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image
from torch import nn

from medgan.data.pyramid import consingan_stage_shapes, image_pyramid
from medgan.errors import BadInputError
from medgan.metrics import evaluate_generator, evaluate_single_image_generator
from medgan.networks import ConSinGANGenerator, DCGANGenerator

LATENT_SIZE = 8
SET_FIGURES = {
    "sliced_wasserstein_distance",
    "intensity_histogram_distance",
    "mmd",
    "diversity_ssim_generated",
    "diversity_ssim_real",
    "unpaired_psnr",
    "unpaired_ssim",
    "unpaired_ms_gmsd",
    "unpaired_mdsi",
    "unpaired_haarpsi",
}


def real_images(count: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Smooth random images (count, 1, *shape) in [-1, 1] with a bright blob."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(*[torch.linspace(-1, 1, s) for s in shape], indexing="ij"))
    centres = torch.rand(count, len(shape), generator=generator) - 0.5
    distance = ((grid[None] - centres.view(count, len(shape), *[1] * len(shape))) ** 2).sum(1)
    return (2 * torch.exp(-4 * distance) - 1 + 0.05 * torch.randn(count, *shape, generator=generator))[:, None]


class TinyGenerator(nn.Module):
    """latents (B, LATENT_SIZE) -> images (B, 1, *shape) in [-1, 1]: one linear layer, cheap in 2D and 3D."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.shape = shape
        self.linear = nn.Linear(LATENT_SIZE, math.prod(shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(len(z), 1, *self.shape)


@pytest.fixture(scope="module")
def dcgan():
    torch.manual_seed(0)
    return DCGANGenerator(spatial_dims=2, image_size=64, latent_size=LATENT_SIZE, out_channels=1, num_features=4)


@pytest.fixture(scope="module")
def tiny():
    return TinyGenerator((32, 32))


@pytest.fixture(scope="module")
def extractor_file(tmp_path_factory):
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(1, 6, 3, stride=2), nn.ReLU(), nn.Conv2d(6, 6, 3, stride=2))
    path = tmp_path_factory.mktemp("extractor") / "features.pt"
    torch.jit.save(torch.jit.script(network), str(path))
    return path


def test_set_evaluation_writes_every_figure_and_the_report(dcgan, tmp_path, extractor_file):
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    (model_dir / "losses.csv").write_text("iteration,loss_d,loss_g\n1,1.0,0.7\n2,0.9,0.8\n")
    content = evaluate_generator(
        dcgan, [LATENT_SIZE], real_images(8, (64, 64)), 6, tmp_path / "eval", "dcgan", model_dir / "model.pt",
        feature_extractor=extractor_file, max_pairs=10,
    )  # fmt: skip
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written == content
    assert set(written["metrics"]) == SET_FIGURES | {"fid", "kid", "precision", "recall"}
    assert written["real"] == {"source": "the embedded sample data", "count": 8, "shape": [1, 64, 64]}
    assert written["generated"]["count"] == 6 and written["bundle"] == "dcgan" and not written["skipped"]
    for name, record in written["metrics"].items():
        assert math.isfinite(record["value"]), name
        assert {"value", "higher_is_better", "samples", "settings"} <= set(record), name
    assert written["metrics"]["fid"]["settings"]["feature_extractor"] == "features.pt"
    assert written["metrics"]["unpaired_psnr"]["samples"] == {"real": 8, "generated": 6, "pairs": 10}
    report = Image.open(tmp_path / "eval" / "report.png")
    assert report.format == "PNG" and report.size[0] > report.size[1] > 400


def test_set_evaluation_of_3d_skips_the_2d_table(tmp_path):
    content = evaluate_generator(
        TinyGenerator((32, 32, 32)), [LATENT_SIZE], real_images(2, (32, 32, 32)), 2, tmp_path, "dcgan",
        tmp_path / "model.pt",
    )  # fmt: skip
    assert {"sliced_wasserstein_distance", "mmd", "diversity_ssim_generated"} <= set(content["metrics"])
    assert content["skipped"]["unpaired_psnr"] == "piq's measures are 2D only"
    assert content["metrics"]["sliced_wasserstein_distance"]["details"]["per_level"].keys() == {
        "32x32x32", "16x16x16"
    }  # fmt: skip
    assert (tmp_path / "report.png").is_file()


@pytest.mark.parametrize(
    "real, num_samples, extractor, message",
    [
        (real_images(1, (32, 32)), 4, False, "the real set has 1 image(s), too few"),
        (real_images(0, (32, 32)), 4, False, "the real set is empty"),
        (real_images(8, (32, 32)), 1, False, "the generated set has 1 image(s), too few"),
        (real_images(5, (32, 32)), 8, True, "too few for precision/recall, which needs at least 6"),
        (real_images(2, (16, 16, 16)), 4, False, "the real images are 3D but the model generates 2D images"),
    ],
)
def test_set_evaluation_refuses_bad_input_in_one_sentence(
    tiny, tmp_path, extractor_file, real, num_samples, extractor, message
):
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate_generator(
            tiny, [LATENT_SIZE], real, num_samples, tmp_path, "dcgan", tmp_path / "model.pt",
            feature_extractor=extractor_file if extractor else None,
        )  # fmt: skip
    assert not (tmp_path / "metrics.json").exists()


def test_an_earlier_evaluation_is_kept_unless_overwrite(tiny, tmp_path):
    args = (tiny, [LATENT_SIZE], real_images(3, (32, 32)), 2, tmp_path, "dcgan", tmp_path / "model.pt")
    evaluate_generator(*args)
    before = (tmp_path / "metrics.json").read_text()
    with pytest.raises(BadInputError, match="already holds an evaluation"):
        evaluate_generator(*args)
    evaluate_generator(*args, overwrite=True)
    assert (tmp_path / "metrics.json").read_text() == before  # seeded: the same figures again


def test_single_image_evaluation_has_the_stage_figures_and_sifid(tmp_path, extractor_file):
    torch.manual_seed(0)
    shapes = consingan_stage_shapes((40, 36), 3, 40, 12)
    generator = ConSinGANGenerator(2, shapes, num_features=4, num_layers=2, num_stages=3)
    reals = image_pyramid(real_images(1, (40, 36)), shapes)
    content = evaluate_single_image_generator(
        generator, reals, 3, tmp_path, "consingan", tmp_path / "model.pt", feature_extractor=extractor_file
    )
    metrics = content["metrics"]
    assert {"singan_diversity", "diversity_ssim_generated", "reconstruction_mse", "stage_patch_swd", "sifid"} <= set(
        metrics
    )
    assert {"unpaired_psnr", "unpaired_haarpsi", "intensity_histogram_distance"} <= set(metrics)
    assert len(metrics["reconstruction_mse"]["details"]["per_stage"]) == 3
    assert len(metrics["stage_patch_swd"]["details"]["per_stage"]) == 3
    assert {"mmd", "fid", "diversity_real"} <= set(content["skipped"])
    assert content["real"]["count"] == 1 and content["generated"]["shape"] == [1, *shapes[-1]]
    assert (tmp_path / "report.png").is_file()
