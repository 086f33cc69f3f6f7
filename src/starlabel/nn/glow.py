"""Conditional invertible network: GLOW affine coupling blocks (Candebat et al. 2024).

Written here rather than taken from FrEIA so that the condition's contribution to each
subnetwork's first layer can be computed once per spectrum and broadcast over many
latent draws (:meth:`ConditionalINN.project`): in Precision mode that removes most of
the work per spectrum-latent pair.

Each block: fixed random orthogonal ("soft") permutation -> GLOW coupling -> ActNorm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConditionalINN", "GlowCoupling", "ActNorm", "SoftPermutation"]

Projection = tuple[torch.Tensor, torch.Tensor]


class SoftPermutation(nn.Module):
    """Multiplication by a fixed random orthogonal matrix (log-determinant 0)."""

    def __init__(self, dim: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        q, r = torch.linalg.qr(
            torch.randn(dim, dim, generator=gen, dtype=torch.float64)
        )
        q = q * torch.sign(torch.diagonal(r))  # unique, uniformly distributed
        # float64 so that it stays orthogonal to 1e-16 whatever the network's dtype
        self.register_buffer("matrix", q)

    def _apply(self, fn, recurse=True):  # keep float64 under .float() / .double()
        matrix = self.matrix
        super()._apply(fn, recurse)
        self.matrix = matrix.to(self.matrix.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.t().to(x.dtype)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.matrix.to(y.dtype)


class ActNorm(nn.Module):
    """Per-dimension affine map ``y = (x + bias) * exp(log_scale)``.

    Initialised from the first training batch so that its output has zero mean and
    unit variance.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialised):
            with torch.no_grad():
                flat = x.reshape(-1, x.shape[-1])
                self.bias.copy_(-flat.mean(0))
                self.log_scale.copy_(-torch.log(flat.std(0).clamp_min(1e-6)))
                self.initialised.fill_(True)
        y = (x + self.bias) * torch.exp(self.log_scale)
        return y, self.log_scale.sum().expand(x.shape[:-1])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class _Subnet(nn.Module):
    """Dense ReLU network on ``[input, condition]``; the condition's share of the first
    layer is supplied precomputed (``projection``)."""

    def __init__(
        self,
        d_in: int,
        d_cond: int,
        d_out: int,
        hidden: int,
        depth: int,
        init_std: float,
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.cond = nn.Linear(d_cond, hidden, bias=False)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.out = nn.Linear(hidden, d_out)
        # The output layer starts near zero (each block near the identity). The paper
        # draws every weight from N(0, 0.01^2); through three layers that stalls the
        # first ~10 epochs here, so the hidden layers keep PyTorch's default init.
        nn.init.normal_(self.out.weight, 0.0, init_std)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        h += projection  # in place: these tensors are the bulk of the memory traffic
        h.relu_()
        for layer in self.hidden:
            h = layer(h).relu_()
        return self.out(h)


class GlowCoupling(nn.Module):
    """GLOW affine coupling: ``y2 = x2 exp(s2(x1, c)) + t2(x1, c)``, then
    ``y1 = x1 exp(s1(y2, c)) + t1(y2, c)``; exponents soft-clamped to ``±clamp``."""

    def __init__(
        self,
        dim: int,
        d_cond: int,
        *,
        hidden: int = 512,
        depth: int = 2,
        clamp: float = 1.9,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        if dim < 2:
            raise ValueError(f"dim: a coupling needs at least 2 dimensions, got {dim}")
        self.d1, self.d2 = dim // 2, dim - dim // 2
        self.clamp = clamp
        self.sub1 = _Subnet(self.d2, d_cond, 2 * self.d1, hidden, depth, init_std)
        self.sub2 = _Subnet(self.d1, d_cond, 2 * self.d2, hidden, depth, init_std)

    def project(self, cond: torch.Tensor) -> Projection:
        """The condition's contribution to both subnetworks' first layers."""
        return self.sub1.cond(cond), self.sub2.cond(cond)

    def _st(self, sub: _Subnet, x: torch.Tensor, projection: torch.Tensor):
        s, t = sub(x, projection).chunk(2, dim=-1)
        return self.clamp * (2 / math.pi) * torch.atan(s / self.clamp), t

    def forward(
        self, x: torch.Tensor, proj: Projection
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = x[..., : self.d1], x[..., self.d1 :]
        s2, t2 = self._st(self.sub2, x1, proj[1])
        y2 = x2 * torch.exp(s2) + t2
        s1, t1 = self._st(self.sub1, y2, proj[0])
        y1 = x1 * torch.exp(s1) + t1
        return torch.cat([y1, y2], dim=-1), s1.sum(-1) + s2.sum(-1)

    def inverse(self, y: torch.Tensor, proj: Projection) -> torch.Tensor:
        y1, y2 = y[..., : self.d1], y[..., self.d1 :]
        s1, t1 = self._st(self.sub1, y2, proj[0])
        x1 = (y1 - t1) * torch.exp(-s1)
        s2, t2 = self._st(self.sub2, x1, proj[1])
        x2 = (y2 - t2) * torch.exp(-s2)
        return torch.cat([x1, x2], dim=-1)


class ConditionalINN(nn.Module):
    """Labels ``x`` <-> latent ``z ~ N(0, I)`` given one condition vector per block.

    Args:
        dim: number of labels.
        cond_dims: width of the condition of each block (one entry per block).
        hidden: width of the subnetworks' layers (paper: 512).
        depth: dense ReLU layers per subnetwork (paper: 2).
        clamp: soft clamp of the coupling exponents (paper: 1.9).
        init_std: standard deviation of the subnetworks' initial output weights
            (paper: 0.01).
        seed: seed of the fixed permutations.

    Example:
        >>> inn = ConditionalINN(3, [4, 4]).eval()
        >>> conds = [torch.randn(5, 4), torch.randn(5, 4)]
        >>> proj = inn.project(conds)
        >>> x = torch.randn(5, 3)
        >>> z, logdet = inn(x, proj)
        >>> bool(torch.allclose(inn.inverse(z, proj), x, atol=1e-5))
        True
    """

    def __init__(
        self,
        dim: int,
        cond_dims: Sequence[int],
        *,
        hidden: int = 512,
        depth: int = 2,
        clamp: float = 1.9,
        init_std: float = 0.01,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.perms = nn.ModuleList(
            SoftPermutation(dim, seed + k) for k in range(len(cond_dims))
        )
        self.couplings = nn.ModuleList(
            GlowCoupling(
                dim, c, hidden=hidden, depth=depth, clamp=clamp, init_std=init_std
            )
            for c in cond_dims
        )
        self.norms = nn.ModuleList(ActNorm(dim) for _ in cond_dims)

    def project(self, conds: Sequence[torch.Tensor]) -> list[Projection]:
        """Per-block condition projections; they broadcast against the labels' leading
        dimensions (e.g. ``(n, 1, hidden)`` against ``(n, n_draws, dim)``)."""
        return [c.project(cond) for c, cond in zip(self.couplings, conds, strict=True)]

    def forward(
        self, x: torch.Tensor, proj: Sequence[Projection]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels -> latent and log|det dz/dx| per sample."""
        logdet = x.new_zeros(x.shape[:-1])
        for perm, coupling, norm, p in zip(
            self.perms, self.couplings, self.norms, proj, strict=True
        ):
            x, ld = coupling(perm(x), p)
            x, ld_norm = norm(x)
            logdet = logdet + ld + ld_norm
        return x, logdet

    def inverse(self, z: torch.Tensor, proj: Sequence[Projection]) -> torch.Tensor:
        """Latent -> labels."""
        for perm, coupling, norm, p in zip(
            reversed(self.perms),
            reversed(self.couplings),
            reversed(self.norms),
            reversed(list(proj)),
            strict=True,
        ):
            z = perm.inverse(coupling.inverse(norm.inverse(z), p))
        return z
