"""Each speed/memory switch does what it says (no timing here: the benchmark in benchmarks/ measures it)."""

import copy
import json
import sys
from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from torch.utils.data import DataLoader, TensorDataset

from medgan.data.pyramid import consingan_stage_shapes, image_pyramid
from medgan.engines import AdversarialTrainer, ConSinGANTrainer, unwrap
from medgan.engines.adversarial_trainer import uncompiled
from medgan.engines.performance import CHANNELS_LAST, compile_network, fast_cpu_conv3d
from medgan.errors import BadInputError
from medgan.networks import ConSinGANDiscriminator, ConSinGANGenerator, DCGANDiscriminator, DCGANGenerator

ROOT = Path(__file__).resolve().parent.parent
LATENT = 4


def dcgan_trainer(spatial_dims=2, **kwargs):
    torch.manual_seed(0)
    images = torch.rand((4, 1) + (64,) * spatial_dims) * 2 - 1
    generator = DCGANGenerator(spatial_dims, 64, latent_size=LATENT, num_features=2)
    discriminator = DCGANDiscriminator(spatial_dims, 64, num_features=2)
    return AdversarialTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=DataLoader(TensorDataset(images), batch_size=2, drop_last=True),
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), 2e-4),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), 2e-4),
        latent_shape=(LATENT,),
        **kwargs,
    )


def consingan_trainer(iterations_per_stage=2, num_scales=3, active_scales=1, batch_norm=False, **kwargs):
    torch.manual_seed(0)
    image = torch.rand(1, 1, 20, 24) * 2 - 1
    shapes = consingan_stage_shapes(image.shape[2:], num_scales, max_size=24, min_size=8)
    generator = ConSinGANGenerator(2, shapes, num_features=4, num_layers=2, batch_norm=batch_norm)
    discriminator = ConSinGANDiscriminator(2, num_features=4, num_layers=2)
    return ConSinGANTrainer(
        device="cpu",
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), 5e-4),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), 5e-4),
        reals=image_pyramid(image, shapes),
        iterations_per_stage=iterations_per_stage,
        active_scales=active_scales,
        d_steps=2,
        g_steps=2,
        **kwargs,
    )


def conv_weights(module):
    return [p for p in module.parameters() if p.dim() in CHANNELS_LAST]


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def count_calls(module):
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_channels_last_stores_weights_and_batches_channels_last(spatial_dims):
    trainer = dcgan_trainer(spatial_dims, channels_last=True)
    trainer.run()
    memory_format = CHANNELS_LAST[spatial_dims + 2]
    weights = conv_weights(trainer.generator) + conv_weights(trainer.discriminator)
    assert weights and all(w.is_contiguous(memory_format=memory_format) for w in weights)
    assert trainer.state.output["real"].is_contiguous(memory_format=memory_format)
    plain = dcgan_trainer(spatial_dims)
    assert not all(w.is_contiguous(memory_format=memory_format) for w in conv_weights(plain.generator))


def test_channels_last_consingan_keeps_format_in_new_stages():
    trainer = consingan_trainer(channels_last=True)
    trainer.run()
    assert trainer.network.num_stages == 3
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(trainer.network))


def test_torch_compile_wraps_both_networks_and_checkpoints_see_the_originals():
    trainer = dcgan_trainer(torch_compile=True)
    generator_before = unwrap(trainer.generator)
    assert isinstance(trainer.generator, torch._dynamo.eval_frame.OptimizedModule)
    assert isinstance(trainer.discriminator, torch._dynamo.eval_frame.OptimizedModule)
    assert isinstance(generator_before, DCGANGenerator)
    assert set(generator_before.state_dict()) == set(DCGANGenerator(2, 64, LATENT, num_features=2).state_dict())


def test_torch_compile_without_a_cpp_compiler_is_refused_in_one_sentence(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(BadInputError, match="C\\+\\+ compiler"):
        compile_network(torch.nn.Linear(2, 2), torch.device("cpu"))


def test_gradient_checkpointing_recomputes_trained_stages_only_with_the_same_gradients():
    shapes = [(8, 8), (12, 12), (16, 16)]
    grads = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        generator = ConSinGANGenerator(2, shapes, num_features=4, num_layers=2, num_stages=3)
        generator.gradient_checkpointing = checkpointing
        generator.body[0].requires_grad_(False)  # a frozen stage
        frozen_calls, trained_calls = count_calls(generator.body[0][0]), count_calls(generator.body[2][0])
        torch.manual_seed(1)
        generator(torch.randn(2, 1, 8, 8)).square().mean().backward()
        assert len(frozen_calls) == 1
        assert len(trained_calls) == (2 if checkpointing else 1)  # the forward, and its recomputation in backward
        grads[checkpointing] = torch.cat([p.grad.flatten() for p in generator.body[1:].parameters()])
    assert torch.equal(grads[False], grads[True])


def test_gradient_checkpointing_is_off_without_gradients():
    generator = ConSinGANGenerator(2, [(8, 8), (12, 12)], num_features=4, num_layers=2, num_stages=2)
    generator.gradient_checkpointing = True
    calls = count_calls(generator.body[1][0])
    with torch.no_grad():
        generator(torch.randn(1, 1, 8, 8))
    assert len(calls) == 1


@pytest.mark.parametrize("batch_norm", [False, True])  # its norms keep no running statistics the cache could skip
def test_frozen_stages_of_the_reconstruction_run_once_per_stage_with_the_same_result(batch_norm):
    trained = {}
    for cache in (False, True):
        trainer = consingan_trainer(iterations_per_stage=3, cache_frozen_stages=cache, batch_norm=batch_norm)
        calls = []

        def count_at_last_stage(engine, calls=calls):  # after start_stage: stages 0 and 1 are frozen (active 1)
            if engine.network.num_stages == 3:
                engine.network.body[0].register_forward_hook(lambda *_: calls.append(1))

        trainer.add_event_handler(Events.EPOCH_STARTED, count_at_last_stage)
        trainer.run()
        # per iteration: 2 critic fakes and 1 generator fake, and the reconstruction: cached, once for the stage
        assert len(calls) == (3 * 3 + 1 if cache else 3 * 4)
        trained[cache] = params(trainer.network)
    assert torch.equal(trained[False], trained[True])


def test_generator_forward_reads_no_device_tensor():
    generator = ConSinGANGenerator(2, [(8, 8), (12, 12)], num_features=4, num_layers=2, num_stages=2)
    z = torch.randn(1, 1, 8, 8)
    generator(z)
    reads = []
    original = torch.Tensor.tolist
    torch.Tensor.tolist = lambda self: reads.append(1) or original(self)
    try:
        generator(z)
        assert not reads
        generator.stage_shapes[1] = torch.tensor([10, 10])  # a changed buffer is read again
        assert generator(z).shape[2:] == (10, 10) and reads
    finally:
        torch.Tensor.tolist = original


def test_benchmark_cases_use_keys_of_the_bundle_configs():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cases import CASES

    for case in CASES:
        keys = set(json.loads((ROOT / "bundles" / case.bundle / "configs" / "train.json").read_text()))
        used = set(case.overrides).union(*case.switches.values())
        assert used <= keys, f"{case.name}: {used - keys} are not keys of its train.json"


def test_separate_critic_backward_back_propagates_each_term_alone_with_the_same_update():
    gradients, backward_calls = {}, {}
    for separate in (False, True):
        trainer = consingan_trainer(iterations_per_stage=1, separate_critic_backward=separate)
        calls = []
        scale = trainer.d_scaler.scale
        trainer.d_scaler.scale = lambda loss, calls=calls, scale=scale: calls.append(1) or scale(loss)
        torch.manual_seed(3)
        terms = trainer.discriminator_step(trainer.reals[0])
        grads = torch.cat([p.grad.flatten() for p in trainer.discriminator.parameters()])
        gradients[separate] = (grads, terms["loss_d"])
        backward_calls[separate] = len(calls)
    assert backward_calls == {False: 1, True: 3}  # real scores, fake scores, gradient penalty
    assert torch.allclose(gradients[False][0], gradients[True][0], rtol=1e-4, atol=1e-7)
    assert torch.allclose(gradients[False][1], gradients[True][1], atol=1e-6)


def test_uncompiled_strips_only_the_compile_wrapper():
    """The StyleGAN2 regularisers' double backward runs on the uncompiled network (compiled graphs refuse
    ``create_graph=True``); a DistributedDataParallel wrapper, which syncs the gradients, stays."""
    network = torch.nn.Linear(2, 2)
    assert uncompiled(torch.compile(network)) is network and uncompiled(network) is network


@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("reuse", [False, True])
def test_reused_fakes_are_made_once_per_iteration_and_judged_by_every_step(reuse, separate):
    """``reuse_fakes``: one generator pass per iteration (the reference's scheme), whose image every critic step and
    the generator's loss judge; without it, one new fake per critic step and one for the generator."""
    trainer = consingan_trainer(
        iterations_per_stage=2, num_scales=1, reuse_fakes=reuse, separate_critic_backward=separate
    )
    made, judged = [], []
    trainer.network.tail.register_forward_hook(lambda _m, _i, output: made.append(output.detach().clone()))
    unwrap(trainer.discriminator).register_forward_pre_hook(lambda _m, args: judged.append(args[0].detach().clone()))
    trainer.network.reconstruct = lambda: torch.zeros_like(trainer.reals[0])  # no tail pass to count
    trainer.run()
    iterations, d_steps = 2, 2
    assert len(made) == iterations * (1 if reuse else d_steps + 1)
    # every image a critic judged that the generator made (not the reals, not the penalty's mixtures), in order
    fakes = [image for image in judged if any(torch.equal(image, fake) for fake in made)]
    if reuse:  # per iteration, the iteration's fake at each critic step and in the generator's loss
        expected = [made[0]] * (d_steps + 1) + [made[1]] * (d_steps + 1)
    else:
        expected = made
    assert len(fakes) == len(expected) and all(torch.equal(a, b) for a, b in zip(fakes, expected))


# ------------------------------------------------------------------------------ batch-1 3D convolutions on oneDNN
def _backend(x: torch.Tensor, conv: torch.nn.Conv3d):
    return torch._C._select_conv_backend(x, conv.weight, conv.bias, list(conv.stride), list(conv.padding),
                                         list(conv.dilation), False, [0, 0, 0], conv.groups, None)  # fmt: skip


def test_torch_sends_a_small_batch_1_3d_convolution_to_its_slow_kernel_and_a_batch_of_2_to_onednn():
    """The reason for fast_cpu_conv3d, as torch decides it; when a torch release changes the rule, this says so."""
    conv = torch.nn.Conv3d(16, 16, 3, padding=1)
    small = torch.zeros(1, 16, 21, 25, 21)  # 16 * 21 * 25 = 8400 <= SLOW3D_LIMIT
    assert str(_backend(small, conv)).endswith("Slow3d")
    assert str(_backend(torch.cat([small, small]), conv)).endswith("Mkldnn")
    assert str(_backend(torch.zeros(1, 16, 41, 48, 40), conv)).endswith("Mkldnn")  # 31488 > SLOW3D_LIMIT


@pytest.mark.parametrize("shape", [(1, 8, 9, 10, 7), (2, 8, 9, 10, 7), (1, 8, 40, 60, 5)])
def test_fast_cpu_conv3d_gives_the_same_values_gradients_and_double_backward(shape):
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv3d(8, 6, 3, padding=1), torch.nn.LeakyReLU(0.2),
                                torch.nn.Conv3d(6, 1, 3, padding=1))  # fmt: skip
    fast = fast_cpu_conv3d(copy.deepcopy(plain))
    x = torch.randn(shape)

    def penalty(network):  # the WGAN-GP pattern: a gradient of the input's gradient norm
        inputs = x.clone().requires_grad_()
        out = network(inputs)
        (grad,) = torch.autograd.grad(out.sum(), inputs, create_graph=True)
        loss = out.square().mean() + grad.square().sum()
        loss.backward()
        return out.detach(), [p.grad for p in network.parameters()]

    (out_plain, grads_plain), (out_fast, grads_fast) = penalty(plain), penalty(fast)
    assert out_fast.shape == out_plain.shape
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-4, atol=1e-5)
    for mine, theirs in zip(grads_fast, grads_plain, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-3, atol=1e-4)


def test_fast_cpu_conv3d_pads_only_what_torch_would_send_to_the_slow_kernel():
    seen = []
    network = fast_cpu_conv3d(torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3), torch.nn.Conv3d(4, 4, 3)))
    network[1].register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[0]))  # after the padding hook
    assert not network[0]._forward_pre_hooks  # one input channel: left alone (padding it was slower)
    others = fast_cpu_conv3d(torch.nn.ModuleList([torch.nn.Conv3d(2, 1, 7), torch.nn.Conv3d(4, 4, 3, groups=2)]))
    assert not any(conv._forward_pre_hooks for conv in others)  # CBAM's 7x7x7 and grouped: oneDNN already
    assert str(_backend(torch.zeros(1, 2, 8, 8, 8), others[0])).endswith("Mkldnn")
    network(torch.zeros(1, 1, 8, 8, 8))
    network(torch.zeros(3, 1, 8, 8, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        network(torch.zeros(1, 1, 8, 8, 8))
        network[1](torch.zeros(1, 4, 8, 8, 8))  # float32 in, bfloat16 arithmetic (oneDNN already)
    assert seen == [2, 3, 1, 1]  # batch 1 float32 padded; a batch of 3 and bfloat16 not
    grown = copy.deepcopy(network)  # ConSinGAN's new stage is a deep copy: the hooks come along
    assert len(grown[1]._forward_pre_hooks) == 2 and fast_cpu_conv3d(grown) is grown
    assert len(grown[1]._forward_pre_hooks) == 2  # idempotent


def test_fast_cpu_conv3d_leaves_traced_graphs_alone():
    network = fast_cpu_conv3d(torch.nn.Sequential(torch.nn.Conv3d(2, 2, 3)))
    traced = torch.jit.trace(network, torch.zeros(1, 2, 6, 6, 6))
    assert "cat" not in str(traced.inlined_graph)
    torch.testing.assert_close(traced(torch.ones(1, 2, 6, 6, 6)), network(torch.ones(1, 2, 6, 6, 6)))


def test_every_trainer_runs_its_networks_3d_convolutions_on_the_fast_path():
    shapes = [[6, 7, 6], [8, 9, 8]]
    generator = ConSinGANGenerator(3, shapes, num_features=4, num_layers=2, cbam=False)
    critic = ConSinGANDiscriminator(3, num_features=4, num_layers=2, cbam=False)
    optimizers = torch.optim.Adam(generator.parameters()), torch.optim.Adam(critic.parameters())
    ConSinGANTrainer("cpu", generator, critic, *optimizers, [torch.zeros(1, 1, *s) for s in shapes], 1, active_scales=2)
    convs = [m for net in (generator, critic) for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert any(m.in_channels > 1 for m in convs)
    assert all(bool(m._forward_pre_hooks) == (m.in_channels > 1) for m in convs)


@pytest.mark.parametrize("bundle", ["consingan", "dcgan", "sngan", "pggan", "stylegan", "stylegan2"])
def test_every_bundle_steps_its_networks_with_fused_adam(bundle, tmp_path):
    """One kernel per optimizer step for all of a network's parameters (the per-parameter loop cost 2-7 % of a
    ConSinGAN iteration on the CPU, benchmarks/README.md)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / bundle / "configs" / "train.json"))
    parser.update({"bundle_root": str(ROOT / "bundles" / bundle), "output_dir": str(tmp_path)})
    parser.get_parsed_content("imports")
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = parser.get_parsed_content(name)
        assert isinstance(optimizer, torch.optim.Adam)
        assert all(group["fused"] for group in optimizer.param_groups), name
