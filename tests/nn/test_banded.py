import pytest
import torch
import torch.nn.functional as F

from starlabel.nn import BandedConvRegressor, ConvRegressor
from starlabel.nn.banded import banded_weight

CONFIGS = [
    {},  # the paper network
    {"channels": (5, 7), "kernel_size": 9, "pool": (3, 2), "dense": (16,)},
    {"channels": (4, 4, 4), "kernel_size": 6, "pool": (2, 1, 2)},
    {"n_extra": 3},
]


def reference(net: ConvRegressor, x, extra=None):
    """The same network through torch's own convolution and pooling layers."""
    z = net.features(x.unsqueeze(1))
    if extra is not None:
        z = torch.cat([z, extra], dim=1)
    return net.head(z)


@pytest.mark.parametrize("pool", [1, 2, 4])
def test_banded_weight_is_the_convolution_as_a_matrix(pool):
    torch.manual_seed(1)
    w = torch.randn(3, 2, 5)
    x = torch.randn(2, 12)  # one block of 8 outputs needs 8 + 4 inputs
    direct = F.conv1d(x[None], w)[0]  # (3, 8)
    product = (x.t().reshape(1, -1) @ banded_weight(w, 8, pool)).reshape(
        pool, 8 // pool, 3
    )
    # column order (phase, pooled position, channel): output position q * pool + phase
    expected = direct.t().reshape(8 // pool, pool, 3).transpose(0, 1)
    torch.testing.assert_close(product, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("n_pixels", [401, 517])
def test_banded_forward_equals_torch_layers(kwargs, n_pixels):
    torch.manual_seed(0)
    net = ConvRegressor(n_pixels, 4, **kwargs).eval()
    x = torch.rand(7, n_pixels)
    extra = torch.randn(7, 3) if kwargs.get("n_extra") else None
    with torch.no_grad():
        torch.testing.assert_close(
            net(x, extra), reference(net, x, extra), rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize("kwargs", CONFIGS[:3])
def test_banded_gradients_equal_torch_layers(kwargs):
    torch.manual_seed(0)
    net = ConvRegressor(333, 3, dropout=0.0, **kwargs)
    x, y = torch.rand(5, 333), torch.randn(5, 3)
    grads = []
    for forward in (net, lambda a: reference(net, a)):
        net.zero_grad()
        ((forward(x) - y) ** 2).sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for got, expected in zip(*grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("kwargs", [*CONFIGS, {"batch_norm": True, "pool": (3, 2, 1)}])
def test_inference_twin_equals_the_module(kwargs):
    torch.manual_seed(0)
    net = ConvRegressor(517, 4, **kwargs)
    for m in net.modules():  # non-trivial running statistics to fold
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.rand(37, 517)  # not a multiple of the chunk size
    extra = torch.randn(37, 3) if kwargs.get("n_extra") else None
    with torch.no_grad():
        expected = reference(net, x, extra)
    got = BandedConvRegressor(net, batch_size=16)(x, extra)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_inference_twin_needs_the_extras():
    net = ConvRegressor(300, 2, n_extra=2).eval()
    with pytest.raises(ValueError, match="extra"):
        BandedConvRegressor(net)(torch.rand(2, 300))
