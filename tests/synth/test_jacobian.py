"""``synth.jacobian`` (the chain rule through the generator) against forward-mode
autograd of the whole generator, in float64, on three setups (HR15N: the Li
line; Gaia RVS: the Ca triplet's damping wings), and the channelled broadening
against broadening each channel alone."""

from __future__ import annotations

import pytest
import torch
from torch.func import jvp

from starlabel.synth.jacobian import jacobian
from starlabel.synth.physics import LABELS, SpectrumGenerator
from starlabel.synth.population import sample_population
from starlabel.synth.survey import CRLB_LABELS


@pytest.mark.parametrize("setup", ["giraffe-hr10", "giraffe-hr15n", "gaia-rvs"])
def test_jacobian_matches_forward_mode_autograd(setup):
    gen = SpectrumGenerator(setup, dtype=torch.float64, device="cpu")
    x = torch.as_tensor(sample_population(5, seed=4).array(), dtype=torch.float64)
    x[0, 11] = 25.0  # a fast rotator: a wide kernel
    names = list(CRLB_LABELS)
    got = jacobian(gen, x, names)
    for k, name in enumerate(names):
        tangent = torch.zeros_like(x)
        tangent[:, LABELS.index(name)] = 1.0
        want = jvp(gen, (x,), (tangent,))[1]
        scale = want.abs().amax().clamp_min(1e-12)
        assert torch.allclose(got[..., k], want, rtol=0, atol=1e-10 * scale), name
    # the Li line is in HR15N only: elsewhere A(Li) has no derivative at all
    li = got[..., names.index("a_li")].abs().amax()
    assert (li > 0) == (setup == "giraffe-hr15n")
    with pytest.raises(ValueError, match="vsini"):
        jacobian(gen, x, ["vsini"])


def test_channels_are_broadened_like_single_spectra():
    gen = SpectrumGenerator("giraffe-hr10", dtype=torch.float64, device="cpu")
    rng = torch.Generator().manual_seed(0)
    d = torch.randn(3, 4, gen.n_fine, generator=rng, dtype=torch.float64)
    vsini = torch.tensor([2.0, 12.0, 40.0], dtype=torch.float64)
    both = gen.broaden(d, vsini, pad_value=0.0)
    for c in range(4):
        alone = gen.broaden(d[:, c], vsini, pad_value=0.0)
        assert torch.allclose(both[:, c], alone, atol=1e-12)
