"""Modulated attention: identity at initialisation, gradient flow, any map size, channels_last."""

from __future__ import annotations

import pytest
import torch

from oltr.models import ModulatedAttention


@pytest.mark.parametrize("size", [(7, 7), (4, 4), (14, 9), (1, 1)])
def test_identity_at_initialisation(size):
    torch.manual_seed(0)
    layer = ModulatedAttention(16)
    x = torch.randn(2, 16, *size)
    torch.testing.assert_close(layer(x), x)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    layer = ModulatedAttention(8)
    x = torch.randn(3, 8, 5, 6, requires_grad=True)
    layer(x).pow(2).sum().backward()
    # At init only the zero output projection gets gradient (everything else sits behind it) ...
    assert layer.out.weight.grad.abs().sum() > 0
    assert x.grad is not None
    # ... and once it is non-zero, the embeddings and the spatial map learn too.
    layer.zero_grad()
    torch.nn.init.normal_(layer.out.weight, std=0.1)
    layer(x).pow(2).sum().backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_spatial_map_is_a_distribution_over_positions():
    layer = ModulatedAttention(4)
    for size in [(7, 7), (3, 5)]:
        weights = layer.spatial_map(torch.randn(2, 4, *size))
        assert weights.shape == (2, 1, *size)
        torch.testing.assert_close(weights.sum(dim=(1, 2, 3)), torch.ones(2))


def test_matches_explicit_formula_on_7x7():
    """f + softmax(Linear(flatten f)) * W_m(softmax(theta^T phi) g), written out with einsum."""
    torch.manual_seed(0)
    layer = ModulatedAttention(6)
    torch.nn.init.normal_(layer.out.weight, std=0.2)
    x = torch.randn(2, 6, 7, 7)
    flat = x.flatten(2)  # (B, C, 49)
    theta = torch.einsum("oc,bcn->bon", layer.theta.weight[:, :, 0, 0], flat) + layer.theta.bias[:, None]
    phi = torch.einsum("oc,bcn->bon", layer.phi.weight[:, :, 0, 0], flat) + layer.phi.bias[:, None]
    g = torch.einsum("oc,bcn->bon", layer.g.weight[:, :, 0, 0], flat) + layer.g.bias[:, None]
    attn = torch.einsum("bci,bcj->bij", theta, phi).softmax(-1)
    y = torch.einsum("bij,bcj->bci", attn, g)
    sa = torch.einsum("oc,bcn->bon", layer.out.weight[:, :, 0, 0], y)
    ma = layer.spatial(x.flatten(1)).softmax(1)[:, None, :]
    expected = (flat + ma * sa).view_as(x)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_channels_last_input_gives_same_output():
    torch.manual_seed(0)
    layer = ModulatedAttention(8)
    torch.nn.init.normal_(layer.out.weight, std=0.1)
    x = torch.randn(2, 8, 6, 6)
    expected = layer(x)
    layer = layer.to(memory_format=torch.channels_last)
    torch.testing.assert_close(layer(x.contiguous(memory_format=torch.channels_last)), expected)


def test_rejects_odd_channels():
    with pytest.raises(ValueError, match="divisible"):
        ModulatedAttention(7)


def test_reference_init_redraws_every_conv_like_the_trunk():
    """The reference's ResNet init loop re-draws theta, phi, g and W_m from N(0, sqrt(2 / (k*k*C_out)))."""
    torch.manual_seed(0)
    channels = 256
    layer = ModulatedAttention(channels, init="reference")
    for name, c_out in [("theta", channels // 2), ("phi", channels // 2), ("g", channels // 2), ("out", channels)]:
        weight = getattr(layer, name).weight
        expected_std = (2.0 / (1 * 1 * c_out)) ** 0.5  # 1x1 kernels
        assert abs(weight.mean().item()) < 0.02 * expected_std, name
        assert weight.std().item() == pytest.approx(expected_std, rel=0.03), name
    for conv in (layer.theta, layer.phi, layer.g):
        assert torch.count_nonzero(conv.bias) == 0
    x = torch.randn(2, channels, 7, 7)
    assert (layer(x) - x).abs().max() > 0.1  # not the identity at the start


def test_attention_init_reaches_the_feature_model_and_is_checked():
    from oltr.models import build_feature_model

    ref = build_feature_model("resnet10", stem="small", width=8, use_attention=True, attention_init="reference")
    ident = build_feature_model("resnet10", stem="small", width=8, use_attention=True)
    assert ref.attention.out.weight.abs().sum() > 0 and ident.attention.out.weight.abs().sum() == 0
    with pytest.raises(ValueError, match="attention init"):
        ModulatedAttention(8, init="zero")
