import json

import pytest
import torch
from ignite.engine import Events
from torch.utils.data import DataLoader, TensorDataset

from medgan.engines import AdversarialTrainer
from medgan.errors import BadInputError
from medgan.handlers import GeneratorEMA, LossPlotter, ResumableCheckpoint, RunSettings, checkpoint_files
from medgan.networks import DCGANDiscriminator, DCGANGenerator

LATENT = 4


def make_trainer(max_epochs=1, handlers=(), amp=False, d_steps=1, g_steps=1, loss="bce", gp=0.0, seed=0):
    torch.manual_seed(seed)
    images = torch.rand(8, 1, 64, 64) * 2 - 1
    loader = DataLoader(TensorDataset(images), batch_size=4, shuffle=True, drop_last=True)
    generator = DCGANGenerator(2, 64, latent_size=LATENT, num_features=2)
    discriminator = DCGANDiscriminator(2, 64, num_features=2)
    trainer = AdversarialTrainer(
        device="cpu",
        max_epochs=max_epochs,
        train_data_loader=loader,
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999)),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999)),
        latent_shape=(LATENT,),
        loss=loss,
        d_steps=d_steps,
        g_steps=g_steps,
        lambda_grad_penalty=gp,
        amp=amp,
    )
    for handler in handlers(trainer) if callable(handlers) else handlers:
        handler.attach(trainer)
    return trainer


def flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_iteration_output_and_fresh_latents_per_step():
    trainer = make_trainer(d_steps=3, g_steps=2)
    draws = []
    original = trainer.sample_latents
    trainer.sample_latents = lambda n: draws.append(n) or original(n)
    trainer.run()
    assert len(draws) == 2 * (3 + 2)  # two iterations, new latents for every D and G step
    output = trainer.state.output
    assert output["fake"].shape == (4, 1, 64, 64)
    assert torch.isfinite(output["loss_d"]) and torch.isfinite(output["loss_g"])


def test_each_step_updates_only_its_network():
    trainer = make_trainer()
    real = torch.rand(4, 1, 64, 64) * 2 - 1
    g_before, d_before = flat(trainer.generator), flat(trainer.discriminator)
    trainer.discriminator_step(real)
    assert torch.equal(flat(trainer.generator), g_before) and not torch.equal(flat(trainer.discriminator), d_before)
    d_before = flat(trainer.discriminator)
    for p in trainer.discriminator.parameters():
        p.requires_grad_(False)
    trainer.generator_step(real)
    assert torch.equal(flat(trainer.discriminator), d_before) and not torch.equal(flat(trainer.generator), g_before)


def test_gradient_penalty_term_and_bf16():
    trainer = make_trainer(loss="wgan", gp=10.0, amp="bf16")
    trainer.run()
    output = trainer.state.output
    assert "grad_penalty" in output and output["grad_penalty"] >= 0
    assert torch.isfinite(output["loss_d"])


def test_fp16_on_cpu_is_refused():
    with pytest.raises(BadInputError, match="bf16"):
        make_trainer(amp="fp16")


def test_ema_is_a_lerp_of_weights():
    generator = torch.nn.Linear(2, 2)
    ema = GeneratorEMA(generator, beta=0.9)
    before = flat(ema.module)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(1.0)
    ema.update()
    assert torch.allclose(flat(ema.module), 0.9 * before + 0.1 * flat(generator))


def _checkpointed(tmp_path, max_epochs, settings=None):
    def handlers(trainer):
        plotter = LossPlotter(str(tmp_path / "out"))
        save = {
            "generator": trainer.generator,
            "discriminator": trainer.discriminator,
            "g_optimizer": trainer.g_optimizer,
            "d_optimizer": trainer.d_optimizer,
            "loss_plotter": plotter,
        }
        run = RunSettings("dcgan", settings or {"image_size": 64})
        checkpoint = ResumableCheckpoint(
            str(tmp_path / "ckpt"), save, run, trainer.generator, {"image_size": 64}, str(tmp_path / "model.pt")
        )
        return [plotter, checkpoint]

    return make_trainer(max_epochs=max_epochs, handlers=handlers)


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    straight = make_trainer(max_epochs=3)
    straight.run()

    first = _checkpointed(tmp_path, max_epochs=2)
    first.run()
    assert [p.name for p in checkpoint_files(tmp_path / "ckpt")] == ["checkpoint_2.pt", "checkpoint_4.pt"]
    resumed = _checkpointed(tmp_path, max_epochs=3)  # a new process: fresh networks, same command
    resumed.run()
    assert resumed.state.epoch == 3 and resumed.state.iteration == 6
    assert torch.equal(flat(resumed.generator), flat(straight.generator))
    assert torch.equal(flat(resumed.discriminator), flat(straight.discriminator))
    assert [p.name for p in checkpoint_files(tmp_path / "ckpt")] == ["checkpoint_4.pt", "checkpoint_6.pt"]
    assert (tmp_path / "out" / "losses.csv").read_text().count("\n") == 1 + 6  # history kept across the resume
    model = torch.load(tmp_path / "model.pt", weights_only=True)  # a plain state dict of the generator
    assert model.keys() == resumed.generator.state_dict().keys()
    assert all(torch.equal(model[k], v) for k, v in resumed.generator.state_dict().items())
    settings = json.loads((tmp_path / "model_settings.json").read_text())
    assert settings["bundle"] == "dcgan" and settings["settings"] == {"image_size": 64}


def test_finished_run_is_not_restarted(tmp_path):
    _checkpointed(tmp_path, max_epochs=1).run()
    again = _checkpointed(tmp_path, max_epochs=1)
    again.run()
    assert again.state.iteration == 2  # nothing retrained, nothing overwritten


def test_resume_with_other_settings_is_refused(tmp_path):
    _checkpointed(tmp_path, max_epochs=1).run()
    with pytest.raises(BadInputError, match="image_size=64"):
        _checkpointed(tmp_path, max_epochs=2, settings={"image_size": 128}).run()


def test_a_model_without_its_run_is_not_overwritten(tmp_path):
    """A folder holding a model.pt but no checkpoints (a downloaded bundle's models/) is refused, the model kept."""
    (tmp_path / "model.pt").write_bytes(b"a shipped model")
    with pytest.raises(BadInputError, match="holds no run to resume .* set --output_dir to a new folder"):
        _checkpointed(tmp_path, max_epochs=1)
    assert (tmp_path / "model.pt").read_bytes() == b"a shipped model"


def test_loss_plot_waits_min_plot_seconds_between_epochs_and_always_writes_at_the_end(tmp_path, monkeypatch):
    """Two iterations an epoch; the clock moves 10 s per epoch: with 25 s between plots, epochs 1, 4 and 7
    write (0, 30 and 60 s), and the end writes again."""
    import medgan.handlers.loss_plot as loss_plot

    clock = {"now": 0.0}
    monkeypatch.setattr(loss_plot.time, "monotonic", lambda: clock["now"])
    plotter = LossPlotter(str(tmp_path), min_plot_seconds=25.0)
    written = []
    write = plotter.write
    monkeypatch.setattr(plotter, "write", lambda engine=None: (written.append(engine.state.epoch), write(engine)))

    def tick(engine):
        clock["now"] += 10.0

    trainer = make_trainer(max_epochs=8, handlers=[plotter])  # 8 images in batches of 4: two iterations an epoch
    trainer.add_event_handler(Events.EPOCH_COMPLETED, tick)  # after the plotter's handler
    trainer.run()
    assert written == [1, 4, 7, 8]
    assert (tmp_path / "losses.csv").read_text().count("\n") == 1 + 16  # every iteration recorded all the same
    assert (tmp_path / "loss.png").is_file()
