"""The pure parts of ``benchmarks/consingan_reference.py`` (configuration mapping, log parsing, metrics, the
reference's shims), without the reference and without training."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import consingan_reference as harness  # noqa: E402

TRAIN_JSON = json.loads((ROOT / harness.TRAIN_CONFIG).read_text())


def test_every_medgan_key_is_a_train_json_key_and_the_recipe_is_the_bundles_default():
    """Passing the recipe explicitly changes nothing for medgan: each value is the bundle's own default."""
    config = harness.Configuration()
    for field, key, _ in harness.KEY_MAP:
        if key is not None:
            assert key in TRAIN_JSON
            if field not in harness.CLI_KEYS:
                assert TRAIN_JSON[key] == getattr(config, field), key


def test_both_command_lines_carry_every_value_of_the_configuration():
    config = harness.Configuration(stages=3, iterations=20, max_size=40, min_size=12, channels=16, seed=7)
    medgan = dict(zip(harness.medgan_overrides(config)[::2], harness.medgan_overrides(config)[1::2]))
    reference = dict(zip(harness.reference_arguments(config)[::2], harness.reference_arguments(config)[1::2]))
    assert {k: medgan[k] for k in ("--num_scales", "--iterations_per_stage", "--num_features", "--seed")} == {
        "--num_scales": "3", "--iterations_per_stage": "20", "--num_features": "16", "--seed": "7"}  # fmt: skip
    assert {k: reference[k] for k in ("--train_stages", "--niter", "--nfc", "--manualSeed", "--lr_g", "--lr_d")} == {
        "--train_stages": "3", "--niter": "20", "--nfc": "16", "--manualSeed": "7", "--lr_g": "0.0005",
        "--lr_d": "0.0005"}  # fmt: skip
    assert medgan["--max_size"] == reference["--max_size"] == "40"
    assert len(medgan) == len(harness.medgan_overrides(config)) // 2  # no key twice


def test_medgan_commands_are_the_bundle_run_a_user_types():
    train, sample = harness.medgan_commands(Path("/in/a.png"), Path("/out/run"), harness.Configuration(), cbam=False)
    assert train[1:6] == ["-m", "monai.bundle", "run", "training", "--config_file"]
    assert train[train.index("--cbam") + 1] == "false" and train[train.index("--spatial_dims") + 1] == "2"
    assert sample[sample.index("--num_samples") + 1] == "25"
    assert sample[sample.index("--ckpt_path") + 1] == "/out/run/train/model.pt"


def test_medgan_only_overrides_go_last_and_name_the_medgan_rows():
    config = harness.Configuration(medgan_args=("--noise_amp", "0.3"))
    train, _ = harness.medgan_commands(Path("/in/a.png"), Path("/out/run"), config, cbam=True)
    assert train[-2:] == ["--noise_amp", "0.3"]  # after the shared keys, so it wins over their values
    reference = harness.reference_arguments(config)
    assert reference[reference.index("--noise_amp") + 1] == "0.1"  # the reference keeps the shared value
    configuration = {"medgan_args": ["--noise_amp", "0.3"]}
    assert harness.run_label("medgan-nocbam", configuration) == "medgan --cbam false --noise_amp 0.3"
    assert harness.run_label("reference", configuration) == harness.RUNS["reference"]


def test_the_reference_trains_on_one_channel_when_asked():
    assert harness.reference_arguments(harness.Configuration())[-2:] == ["--nc_im", "3"]  # its default, explicit
    gray = harness.Configuration(reference_channels=1)
    assert harness.reference_arguments(gray)[-2:] == ["--nc_im", "1"]
    assert "--nc_im" not in harness.medgan_overrides(gray)
    assert harness.run_label("reference", {"reference_channels": 1}) == f"{harness.RUNS['reference']} --nc_im 1"


def test_stage_times_and_shapes_are_read_from_the_logs():
    medgan_log = "x - Epoch[1] Complete. Time taken: 00:00:07.493\ny\nz - Epoch[2] Complete. Time taken: 01:02:03.5\n"
    assert harness.medgan_stage_seconds(medgan_log) == [7.493, 3723.5]
    reference_log = "Training on image pyramid: [torch.Size([1, 3, 15, 12]), torch.Size([1, 3, 40, 34])]\n"
    assert harness.reference_stage_shapes(reference_log) == [[15, 12], [40, 34]]


def test_reference_stage_seconds_span_each_stage_folder(tmp_path):
    for stage, (start, end) in enumerate([(100.0, 110.5), (111.0, 131.0)]):
        folder = tmp_path / str(stage)
        folder.mkdir()
        for name, stamp in (("real_scale.png", start), ("netD.pth", end)):
            (folder / name).touch()
            os.utime(folder / name, (stamp, stamp))
    (tmp_path / "Evaluation").mkdir()
    assert harness.reference_stage_seconds(tmp_path) == [10.5, 20.0]


def test_identical_samples_score_zero_and_the_swd_has_three_levels():
    real = torch.rand(1, 1, 40, 34)
    metrics = harness.sample_metrics(real, real.repeat(5, 1, 1, 1))
    assert list(metrics["patch_swd_per_level"]) == ["40x34", "20x17", "10x9"]
    assert metrics["patch_swd_x1e3"] == pytest.approx(0, abs=1e-2)  # x 1e3: float rounding only
    assert metrics["singan_diversity"] == 0 and metrics["closest_sample_l1"] == 0


def test_closest_sample_distance_is_the_smallest_mean_absolute_difference():
    real = torch.rand(1, 1, 32, 32)
    samples = real + torch.tensor([0.5, -0.25, 0.75]).view(3, 1, 1, 1)
    assert harness.sample_metrics(real, samples)["closest_sample_l1"] == pytest.approx(0.25)


def test_samples_are_rescaled_to_their_percentiles_and_resized_to_the_real_shape(tmp_path):
    picture = np.tile(np.arange(34, dtype=np.uint8) * 4 + 50, (41, 1))
    Image.fromarray(picture).save(tmp_path / "sample.png")
    (samples,) = harness.sample_set([harness.read_gray(tmp_path / "sample.png")], (40, 34))
    assert samples.shape == (1, 40, 34)
    assert float(samples.min()) == 0.0 and float(samples.max()) == 1.0


def test_significant_digits_without_exponents():
    assert [harness.significant(v) for v in (134.2, 7.493, 0.03124, 1234.5, 0.0)] == [
        "134", "7.49", "0.0312", "1234", "0.0"]  # fmt: skip


def test_the_shims_patch_loading_saving_and_albumentations(tmp_path, monkeypatch):
    """Against a stand-in ``ConSinGAN`` package: samples are written as PNG, ``torch.load`` loads pickles on the CPU,
    ``torch.cuda.current_device`` answers without CUDA and the albumentations names exist."""
    package = tmp_path / "ConSinGAN"
    package.mkdir()
    (package / "__init__.py").touch()
    (package / "functions.py").write_text(
        "import matplotlib.pyplot as plt\nfrom skimage import color\nsaved = []\n"
        "def save_image(name, image):\n    saved.append(name)\n    plt.imsave(name, image, vmin=0, vmax=1)\n"
        "def gray(image):\n    return color.rgb2gray(image)\n"
    )
    gray_module = "from skimage import color\ndef gray(image):\n    return color.rgb2gray(image)\n"
    (package / "imresize.py").write_text(gray_module)
    calls = []
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(torch.cuda, "current_device", torch.cuda.current_device)
    monkeypatch.setitem(sys.modules, "albumentations", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    harness.install_reference_shims()
    import ConSinGAN.functions as functions
    import ConSinGAN.imresize as resize

    gray = np.array([[0.0, 0.2], [0.6, 1.0]])  # what the reference's convert_image_np gives for --nc_im 1
    functions.save_image(str(tmp_path / "gen_sample_3.jpg"), gray)
    torch.load("G.pth", map_location="cuda:0")
    assert functions.saved == [str(tmp_path / "gen_sample_3.png")]
    written = np.asarray(Image.open(tmp_path / "gen_sample_3.png").convert("RGB")).astype(int)
    assert (written == np.rint(gray * 255)[..., None]).all()  # gray values, not viridis colours
    one_channel = np.array([[[0], [51]], [[255], [102]]], dtype=np.float64)  # the reference's own resize, 0-255
    for module in (functions, resize):
        assert module.gray(one_channel) == pytest.approx(np.array([[0.0, 0.2], [1.0, 0.4]]))
        rgb = np.random.default_rng(0).integers(0, 256, (3, 4, 3)).astype(np.uint8)
        from skimage import color

        assert module.gray(rgb) == pytest.approx(color.rgb2gray(rgb))  # three channels: skimage's, unchanged
    assert calls == [{"map_location": "cpu", "weights_only": False}]
    assert torch.cuda.current_device() == 0
    with pytest.raises(RuntimeError, match="IAAAdditiveGaussianNoise"):
        sys.modules["albumentations"].IAAAdditiveGaussianNoise()
    for name in ("ConSinGAN.functions", "ConSinGAN.imresize", "ConSinGAN"):
        sys.modules.pop(name)


BAD_SIZES = [
    (["--stages", "0"], "--stages must be a whole number from 1, not 0"),
    (["--seed", "-1"], "--seed must be a whole number from 0, not -1"),
    (["--reference_channels", "2"], "argument --reference_channels: invalid choice: 2 (choose from 1, 3)"),
]


@pytest.mark.parametrize(("argument", "sentence"), BAD_SIZES)
def test_a_bad_size_is_refused_before_anything_runs(argument, sentence, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["consingan_reference.py", "--mni-slices", "--runs", "medgan",
                                      "--out", str(tmp_path / "out"), *argument])  # fmt: skip
    with pytest.raises(SystemExit):
        harness.parse_arguments()
    assert sentence in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_knob_figure_reads_the_harness_json(tmp_path):
    import consingan_knob as knob

    results = {"images": {
        "mni_axial": {"runs": {"reference": {"metrics": {"patch_swd_x1e3": 42.0, "singan_diversity": 0.21}},
                               "medgan-nocbam": {"metrics": {"patch_swd_x1e3": 33.2, "singan_diversity": 0.164}}}},
        "mni_sagittal": {"runs": {"medgan-nocbam": {"metrics": {"patch_swd_x1e3": 57.4, "singan_diversity": 0.145}}}},
    }}  # fmt: skip
    path = tmp_path / "consingan_reference.json"
    path.write_text(json.dumps(results))
    runs = [knob.parse_run(f"reference={path}:reference"), knob.parse_run(f"mixed={path}")]
    assert runs[1] == ("mixed", path, "medgan-nocbam")
    per_image = knob.points(runs)
    assert per_image == {"mni_axial": [("reference", 42.0, 0.21, True), ("mixed", 33.2, 0.164, False)],
                         "mni_sagittal": [("mixed", 57.4, 0.145, False)]}  # fmt: skip
    knob.plot(per_image, tmp_path / "knob.png")
    assert Image.open(tmp_path / "knob.png").size[0] > Image.open(tmp_path / "knob.png").size[1]  # two panels
    with pytest.raises(Exception, match="is not LABEL=JSON"):
        knob.parse_run("no-label")
