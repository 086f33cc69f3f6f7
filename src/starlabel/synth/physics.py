"""A physics-informed, differentiable LTE spectrum generator in PyTorch.

Approximate but physical, vectorised over stars and differentiable in every label.
For each line of the line list, at one representative line-forming layer:

* **Electron pressure** ``log Pe = 1.25 + 0.33 (log g - 4.44) + 0.3 [Fe/H] +
  6 log10(Teff / 5777)`` (dyn cm^-2): Pe ~ sqrt(P_gas) ~ g^(1/3) in cool atmospheres,
  rising steeply with temperature as hydrogen and metals ionise.
* **Ionisation** (Saha): ``log N_II/N_I = log(U_II/U_I) + 2.5 log T - theta chi -
  log Pe - 0.1762`` with ``theta = 5040 / T``; partition functions constant per
  species (``atoms.ELEMENTS``).
* **Excitation** (Boltzmann): lower-level population ``~ gf 10^(-theta E_low) / U``.
* **Continuous opacity**: H- ``kappa_c ~ Pe T^-2.5 10^(0.754 theta)``; so lines of a
  minority species (Fe I) barely react to gravity while lines of a majority species
  (Fe II, Ca II) strengthen as Pe falls, i.e. at low log g.
* **Abundances**: each line's opacity scales with its element's abundance:
  ``A(X)_sun + [Fe/H] + [X/Fe]`` for Mg, Al, Si, Ca, Ti, Ni (S follows Si),
  ``A(Li)`` for Li, ``A(X)_sun + [Fe/H]`` for every other element.
* **Broadening**: Doppler width from the thermal speed at the layer's temperature
  and the microturbulence; damping ``a`` from the line's solar value, 1 % of it
  radiative and 99 % van der Waals scaled with the gas pressure (``~ g^0.65
  T^0.3``), divided by the Doppler width, so strong lines (Ca II triplet, Mg I
  8806) grow gravity-sensitive wings. Profile: Doppler core plus Lorentzian
  damping wings, ``H(a, v) = exp(-v^2) + a / (sqrt(pi) (v^2 + 1.5))``, exact in
  both limits for ``a << 1``.
* **Blends**: the line-to-continuum opacity ratios of all lines are summed at each
  wavelength before the flux is computed.
* **Flux**: Milne-Eddington solution for a source function linear in optical depth,
  ``F/Fc = (1 + c/(1 + eta)) / (1 + c)``, ``c = 2/3 beta``, with the Planck gradient
  ``beta = 2.4 u / (1 - exp(-u))``, ``u = h c / (lambda k Teff)``: weak lines grow
  linearly with opacity, strong lines saturate (curve of growth) at a core depth
  that depends on wavelength and temperature; flux stays in [0, 1].
* **Instrument and rotation**: the intrinsic spectrum, computed on a log-uniform
  grid of ``velocity_step`` km/s, is convolved with the rotation profile (linear
  limb darkening 0.6, pixel-integrated so it is differentiable in vsini) and the
  instrumental Gaussian (FWHM = lambda / R), then averaged over the output pixels.

The layer's temperature is ``T = 0.88 Teff``. The constant of the line strength is
set so that solar Fe I lines have roughly solar depths; log gf values are
approximate (see the line list header), so the spectra are realistic in behaviour,
not a replacement for a radiative-transfer code.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.fft import next_fast_len

from ..spectra.labels import solar_abundance
from ..spectra.preprocess import SPEED_OF_LIGHT_KMS, air_to_vacuum
from .atoms import ELEMENTS, LineList, load_linelist
from .setups import Setup, get_setup
from .tables import fine_grid, window_groups

__all__ = ["LABELS", "SpectrumGenerator", "vmic_relation", "default_device"]

LABELS = (
    "teff",
    "logg",
    "fe_h",
    "mg_fe",
    "al_fe",
    "si_fe",
    "ca_fe",
    "ti_fe",
    "ni_fe",
    "a_li",
    "vmic",
    "vsini",
)
_X_FE = {
    "Mg": "mg_fe",
    "Al": "al_fe",
    "Si": "si_fe",
    "Ca": "ca_fe",
    "Ti": "ti_fe",
    "Ni": "ni_fe",
    "S": "si_fe",
}
# Line-strength constant, calibrated once so that Fe I 5569.6 A (EP 3.42 eV,
# log gf -0.54) has eta0 ~ 25 in the Sun, i.e. a depth of ~0.6 at R = 20 000.
LINE_STRENGTH = 4.58
LIMB_DARKENING = 0.6
BETA_SCALE = 2.4
LAYER_TEMPERATURE = 0.88


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def vmic_relation(teff, logg):
    """Microturbulence (km/s) from Teff (K) and log g (dex).

    ``vmic = 1.1 + 1e-4 (Teff - 5500) + 4e-7 (Teff - 5500)^2 - 0.13 (log g - 4)``,
    clipped to 0.5-2.5 km/s: about 1.0 km/s for the Sun, 1.4-1.8 km/s for red
    giants, rising for hot dwarfs; the shape of the Gaia-ESO and APOGEE
    calibrations (Bergemann et al. 2012, Holtzman et al. 2015). Works on NumPy
    arrays and torch tensors.
    """
    dt = teff - 5500.0
    v = 1.1 + 1e-4 * dt + 4e-7 * dt * dt - 0.13 * (logg - 4.0)
    if isinstance(v, torch.Tensor):
        return v.clamp(0.5, 2.5)
    return np.clip(v, 0.5, 2.5)


def _abundance_terms(species) -> tuple[np.ndarray, np.ndarray]:
    """Abundance of each line's element as ``a_sun + labels @ coef.T``: ``coef``
    ``(n_lines, len(LABELS))`` and the solar offsets ``a_sun`` ``(n_lines,)``."""
    coef = np.zeros((len(species), len(LABELS)))
    a_sun = np.zeros(len(species))
    for i, s in enumerate(species):
        if s == "Li":
            coef[i, LABELS.index("a_li")] = 1.0
            continue
        a_sun[i] = solar_abundance(s)
        coef[i, LABELS.index("fe_h")] = 1.0
        if s in _X_FE:
            coef[i, LABELS.index(_X_FE[s])] = 1.0
    return coef, a_sun


class SpectrumGenerator(torch.nn.Module):
    """Noise-free, continuum-normalised spectra for labels, on a setup's grid.

    Args:
        setup: a setup name (``giraffe-hr10-hr21``, ``giraffe-hr10``,
            ``giraffe-hr21``, ``giraffe-hr15n``, ``gaia-rvs``) or a :class:`Setup`.
        lines: the line list (default: the package's).
        velocity_step: sampling of the internal grid (km/s per pixel).
        margin_aa: the internal grid extends this far beyond each output segment.
        dtype: float32 for speed, float64 for Jacobian checks.
        device: torch device (default: CUDA when present, else CPU).

    Input ``labels`` is ``(n_spectra, 12)`` in the order of :data:`LABELS`
    (teff K, logg dex, fe_h, mg_fe, al_fe, si_fe, ca_fe, ti_fe, ni_fe, a_li dex,
    vmic km/s, vsini km/s); output flux is ``(n_spectra, n_pixels)`` in [0, 1].

    Example:
        >>> gen = SpectrumGenerator("giraffe-hr10")
        >>> sun = torch.tensor([[5777, 4.44, 0, 0, 0, 0, 0, 0, 0, 1.05, 1.0, 2.0]])
        >>> flux = gen(sun)
        >>> tuple(flux.shape), bool((flux >= 0).all() and (flux <= 1).all())
        ((1, 5601), True)
    """

    def __init__(
        self,
        setup: str | Setup,
        *,
        lines: LineList | None = None,
        velocity_step: float = 1.0,
        margin_aa: float = 3.0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.setup = get_setup(setup) if isinstance(setup, str) else setup
        self.velocity_step = float(velocity_step)
        self.dtype = dtype
        device = torch.device(device) if device is not None else default_device()
        lines = lines if lines is not None else load_linelist()
        grid = self.setup.grid
        layout = fine_grid(self.setup, lines, self.velocity_step, margin_aa)
        self.fine_wavelength = layout.wavelength
        self.n_fine = layout.n_fine
        self._segments = layout.segments
        self.register_buffer(
            "bin_idx", torch.as_tensor(layout.bin_idx), persistent=False
        )
        self.register_buffer(
            "bin_w", torch.as_tensor(layout.bin_w, dtype=dtype), persistent=False
        )
        self.register_buffer(
            "fine_ln",
            torch.as_tensor(np.log(self.fine_wavelength), dtype=dtype),
            persistent=False,
        )

        lines = lines.select(layout.keep)
        line_seg = layout.line_seg[layout.keep]
        self.lines = lines
        wl = (
            lines.wavelength
            if grid.medium == "air"
            else air_to_vacuum(lines.wavelength)
        )
        el = [ELEMENTS[s] for s in lines.species]
        mass = np.array([e.mass for e in el])
        chi = np.array([e.chi_ion for e in el])
        u1 = np.array([e.u1 for e in el])
        u2 = np.array([e.u2 for e in el])
        log_u = np.where(lines.ion == 1, np.log10(u1), np.log10(u2))
        coef, a_sun = _abundance_terms(lines.species)
        # Doppler width of each line in the Sun (vmic 1 km/s), the reference of log_damping.
        vd_sun = np.sqrt(0.016629 * LAYER_TEMPERATURE * 5777.0 / mass + 1.0)
        t = lambda x: torch.as_tensor(np.asarray(x, dtype=float), dtype=dtype)  # noqa: E731
        static = lines.loggf - 12.0 + np.log10(wl / 5000.0) - log_u + LINE_STRENGTH
        self.register_buffer("l_static", t(static), persistent=False)
        self.register_buffer("l_asun", t(a_sun), persistent=False)
        self.register_buffer("l_coef", t(coef), persistent=False)
        self.register_buffer("l_ep", t(lines.ep), persistent=False)
        self.register_buffer("l_ion2", t(lines.ion == 2), persistent=False)
        self.register_buffer("l_chi", t(chi), persistent=False)
        self.register_buffer("l_logu21", t(np.log10(u2 / u1)), persistent=False)
        self.register_buffer("l_mass", t(mass), persistent=False)
        self.register_buffer("l_logdamp", t(lines.log_damping), persistent=False)
        self.register_buffer("l_vdsun", t(vd_sun), persistent=False)

        # Windows: each line's opacity is computed out to where its damping wing falls
        # below 1e-3 of the continuum opacity in the most extreme star of the label
        # space (capped by the line list's window); lines are grouped by window width,
        # each group a dense (lines, W) block.
        windows = self._auto_windows(lines, wl)
        self._groups = []
        groups = window_groups(layout, line_seg, wl, windows, velocity_step)
        for k, group in enumerate(groups):
            self.register_buffer(
                f"g{k}_members", torch.as_tensor(group.members), persistent=False
            )
            self.register_buffer(
                f"g{k}_idx", torch.as_tensor(group.idx), persistent=False
            )
            self.register_buffer(f"g{k}_dv", t(group.dv), persistent=False)
            self._groups.append(k)
        self.to(device)

    # ------------------------------------------------------------------ physics
    def _auto_windows(self, lines: LineList, wl: np.ndarray) -> np.ndarray:
        # Extremes of the label space: a metal-rich, alpha-rich cool giant and a cool
        # dwarf (the largest opacities and the largest damping), and a hot dwarf.
        extremes = torch.tensor(
            [
                [3800, 0.8, 0.5, 0.4, 0.6, 0.4, 0.4, 0.4, 0.3, 4.0, 0.8, 0.0],
                [3800, 5.0, 0.5, 0.4, 0.6, 0.4, 0.4, 0.4, 0.3, 4.0, 0.8, 0.0],
                [7000, 4.5, 0.5, 0.4, 0.6, 0.4, 0.4, 0.4, 0.3, 4.0, 0.8, 0.0],
            ],
            dtype=self.dtype,
        )
        log_eta0, a, v_d = self.line_opacity_ratio(extremes)
        wing = (
            (torch.pow(10.0, log_eta0) * a / (math.sqrt(math.pi) * 1e-3))
            .max(dim=0)
            .values
        )
        v_edge = torch.sqrt(wing).numpy() * v_d.min(dim=0).values.numpy()  # km/s
        core = 5.0 * v_d.max(dim=0).values.numpy()
        need = np.maximum(v_edge, core)
        # Round up to 20 x 2^k km/s so that few groups form; never beyond the list's cap.
        steps = 20.0 * 2.0 ** np.ceil(np.log2(np.maximum(need, 20.0) / 20.0))
        return np.minimum(steps, lines.window_kms)

    def line_opacity_ratio(
        self, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per star and line: log10 eta0 (line-centre line/continuum opacity), damping a, v_D."""
        teff = labels[:, 0:1]
        logg = labels[:, 1:2]
        fe_h = labels[:, 2:3]
        vmic = labels[:, 10:11]
        temp = LAYER_TEMPERATURE * teff
        theta = 5040.0 / temp
        log_t = torch.log10(temp)
        log_pe = (
            1.25 + 0.33 * (logg - 4.44) + 0.3 * fe_h + 6.0 * torch.log10(teff / 5777.0)
        )
        # Saha: log(N_II / N_I); fractions in each stage.
        log_r = self.l_logu21 + 2.5 * log_t - theta * self.l_chi - log_pe - 0.1762
        ln_r = log_r * math.log(10.0)
        log_f1 = -torch.nn.functional.softplus(ln_r) / math.log(10.0)
        log_f = log_f1 + self.l_ion2 * log_r
        log_kappa = log_pe - 2.5 * log_t + 0.754 * theta
        log_eps = self.l_asun + labels @ self.l_coef.T
        v_d = torch.sqrt(0.016629 * temp / self.l_mass + vmic * vmic)
        log_eta0 = (
            self.l_static
            + log_eps
            + log_f
            - theta * self.l_ep
            - torch.log10(v_d)
            - log_kappa
        )
        # 1 % of the solar damping is radiative (independent of pressure), 99 % van der
        # Waals collisions, which scale with the gas pressure ~ g^0.65 and T^0.3.
        pressure = torch.pow(
            10.0, 0.65 * (logg - 4.44) + 0.3 * torch.log10(teff / 5777.0)
        )
        a = (
            torch.pow(10.0, self.l_logdamp)
            * (0.01 + 0.99 * pressure)
            * (self.l_vdsun / v_d)
        )
        return log_eta0, a, v_d

    def intrinsic(self, labels: torch.Tensor) -> torch.Tensor:
        """``(n_spectra, n_fine)`` flux before rotation and instrumental broadening."""
        labels = labels.to(dtype=self.dtype, device=self.bin_w.device)
        log_eta0, a, v_d = self.line_opacity_ratio(labels)
        eta0 = torch.pow(10.0, log_eta0)
        n = labels.shape[0]
        eta = torch.zeros(n, self.n_fine + 1, dtype=self.dtype, device=labels.device)
        for members, idx, _, gauss, wing in self.line_windows(v_d):
            profile = gauss + a[:, members, None] * wing
            contrib = (eta0[:, members, None] * profile).reshape(n, -1)
            eta = eta.scatter_add(1, idx.expand(n, -1), contrib)
        eta = eta[:, :-1]
        return 1.0 - self.depth(labels[:, 0:1]) * (eta / (1.0 + eta))

    def line_windows(self, v_d: torch.Tensor):
        """Per group of lines with one window width: the lines (indices), their
        window pixels on the fine grid (flat, ``(L_g * W,)``; ``n_fine`` outside
        it), ``u = v^2`` with ``v = dv / v_D`` ``(n, L_g, W)``, ``exp(-u)`` and the
        damping wing's shape ``1 / (sqrt(pi) (u + 1.5))``: a line's profile is
        ``exp(-u) + a * wing``."""
        for k in self._groups:
            members = getattr(self, f"g{k}_members")
            v = getattr(self, f"g{k}_dv")[None] / v_d[:, members, None]
            u = v * v
            wing = 1.0 / (math.sqrt(math.pi) * (u + 1.5))
            yield members, getattr(self, f"g{k}_idx"), u, torch.exp(-u), wing

    def depth(self, teff: torch.Tensor) -> torch.Tensor:
        """``(n_spectra, n_fine)`` the depth D of an opaque line for ``teff (n, 1)``.

        F/Fc = (1 + c/(1+eta)) / (1+c) = 1 - D eta/(1+eta), D = c/(1+c); D varies
        slowly with wavelength, so it is evaluated at each segment's ends and
        interpolated.
        """
        depth = torch.empty(
            teff.shape[0], self.n_fine, dtype=self.dtype, device=teff.device
        )
        for off, n, _ in self._segments:
            ends = torch.exp(self.fine_ln[[off, off + n - 1]])
            u = 1.4388e8 / (ends[None, :] * teff)
            c = (2.0 / 3.0) * BETA_SCALE * u / (-torch.expm1(-u))
            d = c / (1.0 + c)
            x = torch.linspace(0.0, 1.0, n, dtype=self.dtype, device=teff.device)
            depth[:, off : off + n] = d[:, :1] + (d[:, 1:] - d[:, :1]) * x[None, :]
        return depth

    def broaden(
        self, flux: torch.Tensor, vsini: torch.Tensor, pad_value: float = 1.0
    ) -> torch.Tensor:
        """Rotation and instrumental broadening of intrinsic fine-grid flux
        ``(n, n_fine)``, or of ``(n, k, n_fine)`` channels with one kernel per star
        (the columns of a Jacobian: ``pad_value`` 0, the continuum's derivative).
        Each segment is padded by the kernels' reach, to a fast FFT length."""
        dv = self.velocity_step
        half = int(math.ceil(float(vsini.detach().max()) / dv)) + 1
        k = torch.arange(-half, half + 1, dtype=self.dtype, device=flux.device)
        vs = vsini.clamp_min(1e-3)[:, None]
        eps = LIMB_DARKENING
        lim = 1.0 - 1e-5

        def cdf(v_edge: torch.Tensor) -> torch.Tensor:
            x = (v_edge / vs).clamp(-lim, lim)
            root = torch.sqrt(1.0 - x * x)
            return (
                2 * (1 - eps) * 0.5 * (x * root + torch.asin(x))
                + 0.5 * math.pi * eps * (x - x**3 / 3)
            ) / (math.pi * (1 - eps / 3))

        kernel = cdf((k + 0.5) * dv) - cdf((k - 0.5) * dv)
        kernel = kernel / kernel.sum(dim=1, keepdim=True)
        out = []
        for off, n, resolution in self._segments:
            part = flux[..., off : off + n]
            sigma_px = (
                SPEED_OF_LIGHT_KMS
                / resolution
                / (2.0 * math.sqrt(2.0 * math.log(2.0)))
                / dv
            )
            pad = half + int(math.ceil(6 * sigma_px)) + 2
            size = next_fast_len(n + 2 * pad, real=True)
            right = size - n - pad  # >= pad: the circular wrap stays in the padding
            padded = torch.nn.functional.pad(part, (pad, right), value=pad_value)
            ker = torch.zeros(flux.shape[0], size, dtype=self.dtype, device=flux.device)
            ker[:, : half + 1] = kernel[:, half:]
            ker[:, size - half :] = kernel[:, :half]
            freq = torch.fft.rfftfreq(size, dtype=self.dtype, device=flux.device)
            gauss = torch.exp(-2.0 * (math.pi * sigma_px * freq) ** 2)
            response = torch.fft.rfft(ker) * gauss
            if flux.dim() == 3:
                response = response[:, None]
            spec = torch.fft.rfft(padded) * response
            out.append(torch.fft.irfft(spec, n=size)[..., pad : pad + n])
        return torch.cat(out, dim=-1)

    def fine(self, labels: torch.Tensor) -> torch.Tensor:
        """``(n_spectra, n_fine)`` broadened flux on the internal grid :attr:`fine_wavelength`."""
        labels = labels.to(dtype=self.dtype, device=self.bin_w.device)
        return self.broaden(self.intrinsic(labels), labels[:, 11])

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """``(n_spectra, n_pixels)`` noise-free flux on the setup's grid."""
        fine = self.fine(labels)
        out = (fine[:, self.bin_idx] * self.bin_w).sum(dim=-1)
        return out.clamp(0.0, 1.0)
