import csv
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_CONSINGAN, train_tiny_consingan
from monai.bundle import ConfigParser

from medgan.data.pyramid import consingan_stage_shapes, image_pyramid
from medgan.engines import ConSinGANTrainer
from medgan.errors import BadInputError
from medgan.handlers import ResumableCheckpoint, RunSettings
from medgan.networks import ConSinGANDiscriminator, ConSinGANGenerator

LR, LR_FACTOR = 5e-4, 0.1


def make_trainer(
    spatial_dims=2,
    iterations_per_stage=3,
    active_scales=2,
    num_scales=3,
    seed=0,
    handlers=None,
    padding=1,
    min_size=8,
    **kwargs,
):
    torch.manual_seed(seed)
    image = torch.rand((1, 1) + (20, 24, 16)[:spatial_dims]) * 2 - 1
    shapes = consingan_stage_shapes(image.shape[2:], num_scales, max_size=24, min_size=min_size)
    generator = ConSinGANGenerator(spatial_dims, shapes, num_features=4, num_layers=2, cbam=True, padding=padding)
    discriminator = ConSinGANDiscriminator(spatial_dims, num_features=4, num_layers=2, batch_norm=True,
                                           padding=padding)  # fmt: skip
    trainer = ConSinGANTrainer(
        device="cpu",
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), LR, betas=(0.5, 0.999)),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), LR, betas=(0.5, 0.999)),
        reals=image_pyramid(image, shapes),
        iterations_per_stage=iterations_per_stage,
        active_scales=active_scales,
        lr=LR,
        lr_factor=LR_FACTOR,
        d_steps=2,
        g_steps=2,
        **kwargs,
    )
    for handler in handlers(trainer) if handlers else []:
        handler.attach(trainer)
    return trainer


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_trains_every_stage_and_generates_at_the_finest(spatial_dims):
    trainer = make_trainer(spatial_dims)
    trainer.run()
    network = trainer.network
    assert network.num_stages == 3 and trainer.state.iteration == 9
    finest = network.stage_shapes[-1].tolist()
    assert network(torch.randn(2, 1, *network.stage_shapes[0].tolist())).shape == (2, 1, *finest)
    assert torch.equal(network.fixed_noise, trainer.reals[0])  # reconstruction starts from the coarsest image
    assert {"loss_d", "loss_g", "loss_rec", "grad_penalty"} <= set(trainer.state.output)


def test_noise_amplitude_is_noise_amp_times_reconstruction_rmse():
    trainer = make_trainer(iterations_per_stage=2, noise_amp=0.1)
    seen = {}

    def record(engine):
        network = engine.network
        stage = network.num_stages - 1
        amp = float(network.noise_amps[stage])
        network.noise_amps[stage] = 0.0
        with torch.no_grad():
            rmse = F.mse_loss(network.reconstruct(), engine.reals[stage]).sqrt().item()
        network.noise_amps[stage] = amp
        seen[stage] = (amp, rmse)

    from ignite.engine import Events

    trainer.add_event_handler(Events.ITERATION_STARTED(once=1), record)
    trainer.add_event_handler(Events.ITERATION_STARTED(once=3), record)
    trainer.run()
    amp, rmse = seen[1]
    assert amp == pytest.approx(0.1 * rmse, rel=1e-5) and amp > 0


def test_only_the_newest_active_stages_train_with_scaled_learning_rates():
    trainer = make_trainer(iterations_per_stage=2, active_scales=2, num_scales=3)
    trainer.run()  # ends in stage 2 with stages 1 and 2 active
    network = trainer.network
    assert not any(p.requires_grad for p in network.body[0].parameters())
    assert not any(p.requires_grad for p in network.head.parameters())
    lrs = sorted({round(group["initial_lr"], 12) for group in trainer.g_optimizer.param_groups})
    assert lrs == sorted({round(LR, 12), round(LR * LR_FACTOR, 12)})


def test_frozen_stage_is_unchanged_by_training():
    trainer = make_trainer(iterations_per_stage=2, active_scales=1, num_scales=3)
    from ignite.engine import Events

    snapshot = {}
    trainer.add_event_handler(
        Events.EPOCH_STARTED(once=3), lambda e: snapshot.update(stage0=params(e.network.body[0]).clone())
    )
    trainer.run()
    assert torch.equal(params(trainer.network.body[0]), snapshot["stage0"])


def test_new_stage_starts_as_a_copy_of_the_previous_one():
    trainer = make_trainer(iterations_per_stage=1, num_scales=2)
    from ignite.engine import Events

    copies = {}

    def check(engine):
        copies["equal"] = torch.equal(params(engine.network.body[1]), params(engine.network.body[0]))

    trainer.add_event_handler(Events.ITERATION_STARTED(once=2), check)
    trainer.run()
    assert copies["equal"]


def test_learning_rate_drops_after_80_percent_of_a_stage():
    trainer = make_trainer(iterations_per_stage=5, num_scales=1, active_scales=1, gamma_scheduler=0.1)
    from ignite.engine import Events

    lrs = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: lrs.append(e.d_optimizer.param_groups[0]["lr"]))
    trainer.run()
    assert lrs == pytest.approx([LR] * 4 + [LR * 0.1])


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_unpadded_networks_train_every_stage(spatial_dims):
    trainer = make_trainer(spatial_dims, padding=0, min_size=10)  # the critic takes 4 voxels off every side
    trainer.run()
    network = trainer.network
    assert network.num_stages == 3 and network.margin == 2
    sample = network(torch.randn(1, 1, *network.stage_shapes[0].tolist()))
    assert list(sample.shape[2:]) == network.stage_shapes[-1].tolist()
    assert all(math.isfinite(float(trainer.state.output[key])) for key in ("loss_d", "loss_g", "loss_rec"))


def test_a_coarsest_stage_too_small_for_the_unpadded_critic_is_refused():
    with pytest.raises(BadInputError, match=r"coarsest stage \[8, 10\] is too small .* raise --min_size above 8"):
        make_trainer(padding=0, min_size=8)


def test_active_scales_above_num_scales_is_refused():
    with pytest.raises(BadInputError, match="active_scales"):
        make_trainer(active_scales=4, num_scales=3)


def _with_checkpoint(tmp_path, **kwargs):
    def handlers(trainer):
        save = {
            "generator": trainer.network,
            "discriminator": trainer.discriminator,
            "g_optimizer": trainer.g_optimizer,
            "d_optimizer": trainer.d_optimizer,
        }
        return [ResumableCheckpoint(str(tmp_path), save, RunSettings("consingan", {}), save_every_iterations=2)]

    return make_trainer(handlers=handlers, **kwargs)


def test_resume_mid_stage_equals_uninterrupted_run(tmp_path):
    straight = make_trainer(iterations_per_stage=4)
    straight.run()

    interrupted = _with_checkpoint(tmp_path, iterations_per_stage=4)
    from ignite.engine import Events

    interrupted.add_event_handler(Events.ITERATION_COMPLETED(once=6), lambda e: e.terminate())  # mid stage 1
    interrupted.run()
    resumed = _with_checkpoint(tmp_path, iterations_per_stage=4)
    resumed.run()
    assert resumed.state.iteration == 12 and resumed.network.num_stages == 3
    assert torch.equal(params(resumed.network), params(straight.network))
    assert torch.equal(resumed.network.noise_amps, straight.network.noise_amps)


def test_a_run_from_before_reuse_fakes_had_a_key_resumes_only_as_it_was_trained():
    """Checkpoints written before ``reuse_fakes`` existed made new fakes for every critic step: resuming one under
    today's default (true) is refused, naming the setting; with ``--reuse_fakes false`` it resumes. Bundles without
    the key are not affected."""
    old = {"bundle": "consingan", "settings": {"lr": 0.0005}}
    today = RunSettings("consingan", {"lr": 0.0005, "reuse_fakes": True, "cbam_variant": "sequential"}, "ckpts")
    with pytest.raises(BadInputError, match=r"holds a run trained with reuse_fakes=False \(now True\)"):
        today.load_state_dict(old)
    RunSettings("consingan", {"lr": 0.0005, "reuse_fakes": False, "cbam_variant": "sequential"}).load_state_dict(old)
    RunSettings("dcgan", {"lr": 0.0005}).load_state_dict({"bundle": "dcgan", "settings": {"lr": 0.0005}})


def test_the_model_file_reconstructs_as_training_did_with_batch_norm(tmp_path):
    """``--generator_batch_norm true``: the generator that inference builds from the model file (eval mode)
    reconstructs the image as closely as the training's last logged reconstruction loss (with running statistics it
    was 2x further in this tiny run, 70x in a longer one)."""
    changed = {"iterations_per_stage": 30, "num_features": 8, "generator_batch_norm": True}
    bundle, image = train_tiny_consingan(tmp_path, 2, **changed)
    overrides = {**TINY_CONSINGAN[2], **changed}
    output_dir = bundle / "models"
    train = ConfigParser()
    train.read_config(str(bundle / "configs" / "train.json"))
    train.update({"bundle_root": str(bundle), "image": str(image), **overrides})
    real = train.get_parsed_content("reals")[-1]
    inference = ConfigParser()
    inference.read_config(str(bundle / "configs" / "inference.json"))
    inference.update({"bundle_root": str(bundle), "ckpt_path": str(output_dir / "model.pt")})
    generator = inference.get_parsed_content("network")
    generator.load_state_dict(torch.load(output_dir / "model.pt", weights_only=True))
    with torch.no_grad():
        error = F.mse_loss(generator.eval().reconstruct(), real).item()
    with open(output_dir / "losses.csv", newline="") as f:
        last_logged = float(list(csv.DictReader(f))[-1]["loss_rec"])
    assert error < 1.2 * last_logged, (error, last_logged)  # here 1.00x; 2.03x with running statistics
