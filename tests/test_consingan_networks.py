"""Tests of the ConSinGAN generator, discriminator and stage-wise training helpers."""

import io

import pytest
import torch
import torch.nn.functional as F

from medgan.engines.consingan_stages import freeze_inactive_stages, stage_parameter_groups
from medgan.errors import BadInputError
from medgan.layers.resize import resize_antialiased
from medgan.model_file import load_weights
from medgan.networks.consingan import (
    ConSinGANDiscriminator,
    ConSinGANGenerator,
    stages_in_state_dict,
)

FEATURES = 8
STAGE_SHAPES = {2: [(8, 9), (10, 12), (13, 14), (16, 16)], 3: [(4, 5, 6), (6, 6, 8), (8, 9, 10)]}
LR = 1e-3
LR_FACTOR = 0.1


def make_generator(spatial_dims=2, num_stages=1, num_features=FEATURES, **kwargs):
    return ConSinGANGenerator(
        spatial_dims, STAGE_SHAPES[spatial_dims], num_features=num_features, num_stages=num_stages, **kwargs
    )


def coarsest_noise(generator, batch=2):
    return torch.randn(batch, generator.out_channels, *generator.stage_shapes[0].tolist())


def seeded(function, *args, seed=7, **kwargs):
    torch.manual_seed(seed)
    return function(*args, **kwargs)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_output_shape_at_every_built_stage(spatial_dims):
    generator = make_generator(spatial_dims)
    z = coarsest_noise(generator)
    for stage, shape in enumerate(STAGE_SHAPES[spatial_dims]):
        if stage > 0:
            generator.add_stage()
        output = generator(z)
        assert output.shape == (2, 1, *shape)
        assert output.abs().max() <= 1
        assert generator.reconstruct().shape == (1, 1, *shape)
        assert make_generator(spatial_dims, num_stages=stage + 1)(z).shape == (2, 1, *shape)


def test_multichannel_and_batch_norm():
    generator = make_generator(out_channels=3, batch_norm=True, cbam=False, num_stages=2)
    assert generator(torch.randn(2, 3, 8, 9)).shape == (2, 3, 10, 12)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_batch_norm_is_the_reference_batch_norm_of_each_sample_alone(spatial_dims):
    """The reference never calls eval(): its BatchNorm normalises every pass (one image) with that pass's own
    statistics. Written out with ``F.batch_norm`` in training mode, one sample at a time; the same in eval mode,
    and a sample does not depend on the rest of its batch."""
    torch.manual_seed(0)
    generator = make_generator(spatial_dims, num_stages=2, batch_norm=True, cbam=False)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))  # weights and biases of the norms away from 1 and 0
    block = generator.body[1][0]
    x = torch.randn(3, FEATURES, *STAGE_SHAPES[spatial_dims][1])

    def by_hand(sample):
        norm = block.adn.N
        normed = F.batch_norm(block.conv(sample), None, None, norm.weight, norm.bias, training=True, eps=norm.eps)
        return F.leaky_relu(normed, 0.05)

    expected = torch.cat([by_hand(x[i : i + 1]) for i in range(3)])
    for mode in (True, False):
        block.train(mode)
        torch.testing.assert_close(block(x.clone()), expected)
    z = coarsest_noise(generator, batch=3)
    others = torch.cat([z[:1], 5 * coarsest_noise(generator, batch=2)])  # the same first sample, other company
    first = [seeded(generator.eval(), batch)[0] for batch in (z, others)]  # seeded: the same stage noise
    torch.testing.assert_close(first[0], first[1])
    torch.testing.assert_close(generator.train().reconstruct(), generator.eval().reconstruct())


@pytest.mark.parametrize("network", ["generator", "discriminator"])
def test_older_files_with_running_statistics_load(network, tmp_path):
    """Model files and checkpoints of medgan until 2026-12-07 hold running statistics for the norm layers."""
    torch.manual_seed(0)
    build = {
        "generator": lambda: make_generator(num_stages=2, batch_norm=True),
        "discriminator": lambda: ConSinGANDiscriminator(2, num_features=FEATURES, batch_norm=True),
    }[network]
    source, target = build(), build()
    older = dict(source.state_dict())
    norms = [key[: -len(".weight")] for key in older if key.endswith("adn.N.weight")]
    assert norms
    for norm in norms:
        older |= {f"{norm}.running_mean": torch.zeros(FEATURES), f"{norm}.running_var": torch.ones(FEATURES),
                  f"{norm}.num_batches_tracked": torch.tensor(5)}  # fmt: skip
    wrapped = torch.nn.ModuleDict({"net": target})  # the hook also finds them under a prefix
    wrapped.load_state_dict({f"net.{key}": value for key, value in older.items()})
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    torch.save(older, tmp_path / "model.pt")  # and a model file, as inference and export read it
    loaded = load_weights(build(), tmp_path / "model.pt", "consingan")
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_a_model_file_of_another_architecture_is_one_sentence(tmp_path):
    torch.save(make_generator(num_stages=2, batch_norm=True).state_dict(), tmp_path / "model.pt")
    with pytest.raises(BadInputError) as refused:
        load_weights(make_generator(num_stages=2, num_features=4), tmp_path / "model.pt", "consingan")
    sentence = str(refused.value)
    assert "does not fit the consingan network built from its settings (unexpected body.0.0.adn.N.bias" in sentence
    assert f"body.0.0.conv.bias is ({FEATURES},) in the file but (4,) in the network" in sentence


def test_buffers_describe_the_plan():
    generator = make_generator(3)
    assert generator.stage_shapes.dtype == torch.long
    assert generator.stage_shapes.tolist() == [list(shape) for shape in STAGE_SHAPES[3]]
    assert generator.noise_amps.tolist() == [1.0, 1.0, 1.0]
    assert generator.fixed_noise.shape == (1, 1, 4, 5, 6)
    assert {"stage_shapes", "noise_amps", "fixed_noise"} <= set(generator.state_dict())


def test_fixed_noise_follows_torch_seed():
    first = seeded(make_generator).fixed_noise
    assert torch.equal(first, seeded(make_generator).fixed_noise)
    assert not torch.equal(first, seeded(make_generator, seed=8).fixed_noise)


def test_weight_init_follows_reference():
    generator = make_generator(batch_norm=True, num_features=64)
    conv_weight = generator.body[0][0].conv.weight
    assert abs(float(conv_weight.detach().std()) - 0.02) < 0.002
    norm = generator.body[0][0].adn.N
    assert abs(float(norm.weight.detach().mean()) - 1.0) < 0.01
    assert torch.count_nonzero(norm.bias) == 0


def test_add_stage_copies_the_previous_stage():
    generator = make_generator(num_stages=2)
    with torch.no_grad():
        for parameter in generator.body[1].parameters():
            parameter.add_(1.0)
    new_stage = generator.add_stage()
    assert new_stage is generator.body[2]
    assert generator.num_stages == 3
    for old, new in zip(generator.body[1].state_dict().values(), new_stage.state_dict().values()):
        assert torch.equal(old, new)
        assert old.data_ptr() != new.data_ptr()


def test_add_stage_beyond_the_plan_is_rejected():
    generator = make_generator(num_stages=len(STAGE_SHAPES[2]))
    with pytest.raises(BadInputError, match="planned stages"):
        generator.add_stage()


def test_num_stages_outside_the_plan_is_rejected():
    with pytest.raises(BadInputError, match="num_stages"):
        make_generator(num_stages=5)


def test_parameter_groups_while_stage_zero_trains():
    generator = make_generator(num_stages=2)
    groups = stage_parameter_groups(generator, active_scales=3, lr=LR, lr_factor=LR_FACTOR)
    expected = [
        (generator.body[0], LR * LR_FACTOR),
        (generator.body[1], LR),
        (generator.head, LR * LR_FACTOR),
        (generator.tail, LR),
    ]
    assert len(groups) == len(expected)
    for group, (module, lr) in zip(groups, expected):
        assert group["lr"] == pytest.approx(lr)
        assert [id(p) for p in group["params"]] == [id(p) for p in module.parameters()]


def test_parameter_groups_after_stage_zero_is_frozen():
    generator = make_generator(num_stages=4)
    groups = stage_parameter_groups(generator, active_scales=3, lr=LR, lr_factor=LR_FACTOR)
    assert [group["lr"] for group in groups] == pytest.approx([LR * LR_FACTOR**2, LR * LR_FACTOR, LR, LR])
    assert [id(p) for p in groups[-1]["params"]] == [id(p) for p in generator.tail.parameters()]
    assert not any(p.requires_grad for p in generator.body[0].parameters())
    assert not any(p.requires_grad for p in generator.head.parameters())
    assert all(p.requires_grad for stage in generator.body[1:] for p in stage.parameters())


def test_freeze_rejects_no_active_stage():
    with pytest.raises(BadInputError, match="active_scales"):
        freeze_inactive_stages(make_generator(), 0)


def test_frozen_stages_do_not_change_after_an_optimizer_step():
    generator = make_generator(num_stages=3)
    optimizer = torch.optim.Adam(stage_parameter_groups(generator, active_scales=2, lr=LR, lr_factor=LR_FACTOR))
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    target = torch.rand(1, 1, *STAGE_SHAPES[2][2]) * 2 - 1
    loss = generator(coarsest_noise(generator)).mean() + torch.nn.functional.mse_loss(generator.reconstruct(), target)
    loss.backward()
    optimizer.step()
    after = generator.state_dict()
    changed = {name for name in after if not torch.equal(after[name], before[name])}
    frozen = {name for name in after if name.startswith(("body.0.", "head.")) or "." not in name}
    assert not changed & frozen
    for part in ("body.1.", "body.2.", "tail."):
        assert any(name.startswith(part) for name in changed), part


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_state_dict_round_trip(spatial_dims):
    generator = make_generator(spatial_dims)
    generator.add_stage()
    generator.add_stage()
    generator.noise_amps[1:3] = torch.tensor([0.3, 0.2])
    state = generator.state_dict()
    assert stages_in_state_dict(state) == 3
    fresh = seeded(make_generator, spatial_dims, num_stages=stages_in_state_dict(state), seed=99)
    fresh.load_state_dict(state)
    z = coarsest_noise(generator)
    torch.testing.assert_close(seeded(fresh, z), seeded(generator, z))
    torch.testing.assert_close(fresh.reconstruct(), generator.reconstruct())


def test_reconstruction_is_deterministic_and_equals_zero_noise_generation():
    generator = make_generator(num_stages=3)
    zeros = [None] + [torch.zeros(1, FEATURES, *shape) for shape in STAGE_SHAPES[2][1:3]]
    torch.testing.assert_close(generator.reconstruct(), generator.reconstruct())
    torch.testing.assert_close(generator.generate(generator.fixed_noise, noise=zeros), generator.reconstruct())


def test_explicit_noise_fixes_the_sample():
    generator = make_generator(num_stages=3)
    z = coarsest_noise(generator)
    noise = [None] + [torch.randn(2, FEATURES, *shape) for shape in STAGE_SHAPES[2][1:3]]
    torch.testing.assert_close(generator.generate(z, noise=noise), generator.generate(z, noise=noise))
    wrong = [None, torch.randn(2, 1, 10, 12), None]
    with pytest.raises(BadInputError, match="noise"):
        generator.generate(z, noise=wrong)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_forward_equals_generate(spatial_dims):
    generator = make_generator(spatial_dims, num_stages=3)
    z = coarsest_noise(generator)
    torch.testing.assert_close(seeded(generator, z), seeded(generator.generate, z))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_retargeting_to_other_shapes(spatial_dims):
    generator = make_generator(spatial_dims, num_stages=3)
    shapes = [[size * 2 for size in shape] for shape in STAGE_SHAPES[spatial_dims][:3]]
    z = torch.randn(1, 1, *shapes[0])
    assert generator.generate(z, stage_shapes=shapes).shape == (1, 1, *shapes[2])
    with pytest.raises(BadInputError, match="z has shape"):
        generator.generate(coarsest_noise(generator), stage_shapes=shapes)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_an_injected_image_replaces_z_and_the_stages_before_start_stage_add_no_noise(spatial_dims):
    """ConSinGAN's harmonisation: the image, resized to stage 0, in place of the coarsest noise; zero noise before
    ``start_stage`` (the reconstruction path), drawn noise from it on; given noise before it is ignored."""
    generator = make_generator(spatial_dims, num_stages=3)
    with torch.no_grad():
        generator.noise_amps.fill_(0.5)
    shapes = [list(shape) for shape in STAGE_SHAPES[spatial_dims][:3]]
    image = torch.rand(2, 1, *[size * 3 for size in shapes[0]]) * 2 - 1
    coarsest = resize_antialiased(image, shapes[0])
    drawn = [torch.randn(2, *generator.noise_shape(stage)) for stage in range(3)]
    zeros = [torch.zeros_like(noise) for noise in drawn]
    for start_stage, expected_noise in ((0, drawn), (1, drawn), (2, [None, zeros[1], drawn[2]])):
        injected = generator.generate(start_image=image, start_stage=start_stage, noise=drawn)
        expected = generator.generate(coarsest, noise=[None, *expected_noise[1:]])
        torch.testing.assert_close(injected, expected)
    assert not torch.allclose(generator.generate(start_image=image, start_stage=2, noise=drawn),
                              generator.generate(start_image=image, start_stage=1, noise=drawn))  # fmt: skip


def test_generate_rejects_inconsistent_arguments():
    generator = make_generator(num_stages=2)
    z = coarsest_noise(generator)
    with pytest.raises(BadInputError, match="exactly one"):
        generator.generate(z, start_image=torch.rand(1, 1, 8, 9))
    with pytest.raises(BadInputError, match="start_stage 1 needs a start_image"):
        generator.generate(z, start_stage=1)
    with pytest.raises(BadInputError, match="start_stage 3 is outside 0..2"):
        generator.generate(start_image=torch.rand(1, 1, 8, 9), start_stage=3)
    with pytest.raises(BadInputError, match="start_image has shape"):
        generator.generate(start_image=torch.rand(1, 3, 8, 9))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_torchscript_export_round_trip(spatial_dims):
    generator = make_generator(spatial_dims, num_stages=2).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(generator), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    z = coarsest_noise(generator)
    output = seeded(loaded, z)
    assert output.shape == (2, 1, *STAGE_SHAPES[spatial_dims][1])
    torch.testing.assert_close(output, seeded(generator, z))


@pytest.mark.parametrize("spatial_dims, shape", [(2, (11, 13)), (3, (5, 6, 7))])
def test_discriminator_gives_a_patch_map(spatial_dims, shape):
    discriminator = ConSinGANDiscriminator(spatial_dims, in_channels=2, num_features=FEATURES)
    x = torch.randn(3, 2, *shape, requires_grad=True)
    scores = discriminator(x)
    assert scores.shape == (3, 1, *shape)
    scores.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.jit.script(discriminator)(x).shape == scores.shape


def test_discriminator_layout_follows_reference():
    discriminator = ConSinGANDiscriminator(2, num_features=FEATURES, num_layers=3)
    assert len(discriminator.body) == 3 + 1  # num_layers conv blocks, then CBAM
    assert discriminator.tail.out_channels == 1
    assert len(ConSinGANDiscriminator(2, num_features=FEATURES, cbam=False).body) == 3


# ------------------------------------------------------------------ padding 0: the reference's unpadded convs
def _unpadded(spatial_dims, num_stages, **kwargs):
    return make_generator(spatial_dims, num_stages=num_stages, padding=0, num_layers=3, **kwargs)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_unpadded_generator_keeps_the_stage_shapes_and_takes_noise_with_the_margin(spatial_dims):
    generator = _unpadded(spatial_dims, 3)
    assert (generator.edge, generator.margin) == (1, 3)  # kernel 3: 1 pixel per conv and side, 3 convs per stage
    z = coarsest_noise(generator)
    shapes = STAGE_SHAPES[spatial_dims]
    assert generator(z).shape == (2, 1, *shapes[2]) and generator.reconstruct().shape == (1, 1, *shapes[2])
    assert generator.noise_shape(1) == [FEATURES, *[size + 6 for size in shapes[1]]]
    noise = [None] + [torch.zeros(1, *generator.noise_shape(k)) for k in (1, 2)]
    torch.testing.assert_close(generator.generate(generator.fixed_noise, noise=noise), generator.reconstruct())
    with pytest.raises(BadInputError, match="noise\\[1\\] has shape"):
        generator.generate(z, noise=[None, torch.zeros(2, FEATURES, *shapes[1]), None])
    torch.testing.assert_close(seeded(generator, z), seeded(torch.jit.script(generator.eval()), z))


def test_unpadded_generator_is_the_reference_data_flow_by_hand():
    """tohinz/ConSinGAN ``GrowingGenerator.forward`` in generation mode, written out with the generator's own modules:
    head on the zero-padded noise, stage 0 on the features upsampled by 2 and zero-padded by num_layer - 1, stage k
    on the features upsampled to shape + 2 * num_layer plus noise of that shape, plus the features upsampled to the
    shape; tail on the zero-padded features."""
    from medgan.layers.resize import resize

    generator = _unpadded(2, 3).eval()
    with torch.no_grad():
        generator.noise_amps.copy_(torch.tensor([1.0, 0.3, 0.2, 1.0]))
    shapes = [list(shape) for shape in STAGE_SHAPES[2]]
    z = coarsest_noise(generator, batch=1)
    noise = [None] + [torch.randn(1, *generator.noise_shape(k)) for k in (1, 2)]

    def pad(x, width):
        return torch.nn.functional.pad(x, [width] * 4)

    x = generator.head(pad(z, 1))
    x = generator.body[0](pad(resize(x, [shapes[0][0] + 2, shapes[0][1] + 2]), 2))
    for k in (1, 2):
        context = resize(x, [shapes[k][0] + 6, shapes[k][1] + 6])
        x = generator.body[k](context + noise[k] * generator.noise_amps[k]) + resize(x, shapes[k])
    expected = generator.tail(pad(x, 1))
    torch.testing.assert_close(generator.generate(z, noise=noise), expected)


@pytest.mark.parametrize("spatial_dims, shape", [(2, (20, 23)), (3, (14, 15, 16))])
def test_unpadded_critic_never_sees_zero_padding(spatial_dims, shape):
    torch.manual_seed(0)
    critic = ConSinGANDiscriminator(spatial_dims, num_features=FEATURES, num_layers=3, padding=0)
    assert critic.margin == 5  # head, 3 body convs and the tail: 5 unpadded 3-wide convs
    x = torch.randn(2, 1, *shape)
    scores = critic(x)
    assert scores.shape == (2, 1, *[size - 10 for size in shape])
    # no zero padding anywhere: without CBAM (whose channel attention pools over the whole image) the critic is
    # translation-equivariant, so the scores of a crop are the crop of the scores (a padded critic fails this along
    # the crop's new edge)
    local = ConSinGANDiscriminator(spatial_dims, num_features=FEATURES, num_layers=3, padding=0, cbam=False)
    crop = (slice(None), slice(None)) + tuple(slice(3, None) for _ in shape)
    torch.testing.assert_close(local(x[crop]), local(x)[crop])
    padded = ConSinGANDiscriminator(spatial_dims, num_features=FEATURES, num_layers=3, cbam=False)
    assert padded.margin == 0 and not torch.allclose(padded(x[crop]), padded(x)[crop])


# ------------------------------------------------------------------ padded_stages: 'same' coarse, context fine
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_all_padded_stages_is_the_same_padding_generator(spatial_dims):
    """``padding 0`` with every stage padded is the 'same' generator: same modules, same state dict, same outputs."""
    stages = len(STAGE_SHAPES[spatial_dims])
    same = seeded(make_generator, spatial_dims, num_stages=stages, cbam=False)
    mixed = make_generator(spatial_dims, num_stages=stages, cbam=False, padding=0, padded_stages=stages)
    mixed.load_state_dict(same.state_dict())
    assert [mixed.stage_margin(k) for k in range(stages)] == [0] * stages
    z = coarsest_noise(same)
    torch.testing.assert_close(seeded(mixed, z), seeded(same, z))
    torch.testing.assert_close(mixed.reconstruct(), same.reconstruct())


def test_padded_stages_by_hand():
    """Two 'same' stages, then one fed context: the data flow written out with the generator's own modules."""
    from medgan.layers.resize import resize

    generator = _unpadded(2, 3, padded_stages=2).eval()
    assert [generator.stage_margin(k) for k in range(3)] == [0, 0, 3]
    assert [conv.conv.padding for conv in generator.body[1][:3]] == [(1, 1)] * 3
    assert [conv.conv.padding for conv in generator.body[2][:3]] == [(0, 0)] * 3
    with torch.no_grad():
        generator.noise_amps.copy_(torch.tensor([1.0, 0.3, 0.2, 1.0]))
    shapes = [list(shape) for shape in STAGE_SHAPES[2]]
    z = coarsest_noise(generator, batch=1)
    noise = [None] + [torch.randn(1, *generator.noise_shape(k)) for k in (1, 2)]
    assert list(noise[1].shape[2:]) == shapes[1] and list(noise[2].shape[2:]) == [size + 6 for size in shapes[2]]
    x = generator.body[0](generator.head(z))  # 'same' head and stage 0: no enlargement, no zero margin
    x = generator.body[1](resize(x, shapes[1]) + noise[1] * 0.3) + resize(x, shapes[1])
    context = resize(x, [size + 6 for size in shapes[2]])
    x = generator.body[2](context + noise[2] * 0.2) + resize(x, shapes[2])
    expected = generator.tail(torch.nn.functional.pad(x, [1] * 4))
    torch.testing.assert_close(generator.generate(z, noise=noise), expected)
    torch.testing.assert_close(seeded(torch.jit.script(generator), z), seeded(generator, z))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_the_first_context_stage_starts_as_a_copy_of_the_last_padded_one(spatial_dims):
    from medgan.engines.performance import CHANNELS_LAST, to_channels_last

    generator = _unpadded(spatial_dims, 1, padded_stages=1)
    to_channels_last(generator)  # what the trainer did before the stage grew: the copy keeps it
    stage = generator.add_stage()
    assert stage[0].conv.weight.is_contiguous(memory_format=CHANNELS_LAST[spatial_dims + 2])
    assert all(p.requires_grad for p in stage.parameters())
    for before, after in zip(generator.body[0].state_dict().values(), stage.state_dict().values(), strict=True):
        torch.testing.assert_close(after, before)
    assert stage[0].conv.padding == (0,) * spatial_dims and generator.body[0][0].conv.padding == (1,) * spatial_dims
    shapes = STAGE_SHAPES[spatial_dims]
    assert generator(coarsest_noise(generator)).shape == (2, 1, *shapes[1])
    rebuilt = _unpadded(spatial_dims, 2, padded_stages=1)
    rebuilt.load_state_dict(generator.state_dict())
    z = coarsest_noise(generator)
    torch.testing.assert_close(seeded(rebuilt, z), seeded(generator, z))


def test_padded_stages_beyond_the_plan_are_refused():
    with pytest.raises(BadInputError, match="padded_stages 5 is outside 0..4"):
        make_generator(padding=0, padded_stages=5)


def test_padding_wider_than_the_kernel_is_refused():
    with pytest.raises(BadInputError, match="padding 2 is outside 0..1"):
        make_generator(padding=2)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_residual_cbam_critic_weighs_its_input_image(spatial_dims):
    """``cbam_variant residual`` (the seed ConSinGAN_ND's critic): channel attention on the image, no CBAM inside."""
    torch.manual_seed(0)
    critic = ConSinGANDiscriminator(spatial_dims, in_channels=2, num_features=FEATURES, cbam_variant="residual")
    assert not any("spatial_attention" in key for key in critic.state_dict())
    x = torch.randn(2, 2, *STAGE_SHAPES[spatial_dims][-1])
    first, _, second = critic.input_attention.mlp
    spatial_axes = tuple(range(2, x.ndim))

    def mlp(descriptor):
        hidden = torch.relu(descriptor @ first.weight.flatten(1).T + first.bias)
        return hidden @ second.weight.flatten(1).T + second.bias

    weights = torch.sigmoid(mlp(x.mean(dim=spatial_axes)) + mlp(x.amax(dim=spatial_axes)))
    weighted = x * weights.reshape(*weights.shape, *([1] * len(spatial_axes)))
    torch.testing.assert_close(critic(x), critic.tail(critic.body(critic.head(weighted))))
    without = ConSinGANDiscriminator(spatial_dims, in_channels=2, num_features=FEATURES, cbam=False)
    assert not any("attention" in key for key in without.state_dict())


def test_residual_cbam_generator_keeps_the_state_dict_keys():
    sequential = make_generator(2, num_stages=2)
    residual = make_generator(2, num_stages=2, cbam_variant="residual")
    assert sequential.state_dict().keys() == residual.state_dict().keys()
    assert residual.body[0][-1].residual and not sequential.body[0][-1].residual


def test_unknown_cbam_variant_is_refused():
    with pytest.raises(BadInputError, match="cbam_variant 'both' is unknown"):
        ConSinGANDiscriminator(2, cbam_variant="both")
