"""Distribution families for distributional regression, in torch.

A family maps a matrix of additive predictors ``eta`` of shape (n, k), one column per
distribution parameter, through each parameter's natural link to the parameters,
and gives the log-likelihood, mean, variance and quantiles.

=================  ====================  ==================  ================
family             ``loc`` (link)        ``scale`` (link)    ``shape`` (link)
=================  ====================  ==================  ================
``normal``         mean (identity)       sd (log)
``lognormal``      mean of log y (id.)   sd of log y (log)
``student_t``      location (identity)   scale (log)         df (log)
``laplace``        location (identity)   scale b (log)
``poisson``        mean (log)
``negbin``         mean (log)            alpha, var = mu + alpha mu^2 (log)
``gamma``          mean (log)            dispersion phi = 1/shape (log)
``bernoulli``      probability (logit)
``beta``           mean (logit)          precision phi (log)
=================  ====================  ==================  ================

Quantiles use :mod:`scipy.stats` on numpy arrays (torch lacks most inverse cdfs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn
from torch.distributions import Beta, Gamma, Laplace, LogNormal, NegativeBinomial, Normal, StudentT

_LINKS = {
    "identity": lambda eta: eta,
    "log": lambda eta: torch.exp(torch.clamp(eta, max=80.0)),
    "logit": torch.sigmoid,
}


class Family:
    """A distribution family with one additive predictor per parameter.

    Subclasses set ``name``, ``parameters`` and ``links`` and implement
    :meth:`distribution`, :meth:`mean`, :meth:`variance`, :meth:`scipy_distribution`
    and :meth:`initial_eta`.
    """

    name: str = ""
    parameters: tuple[str, ...] = ("loc",)
    links: tuple[str, ...] = ("identity",)
    discrete: bool = False
    smooth: bool = True  # twice differentiable log-likelihood (else fitted with OPG / BHHH)

    @property
    def n_parameters(self) -> int:
        """Number of distribution parameters (columns of ``eta``)."""
        return len(self.parameters)

    def transform(self, eta: Tensor) -> dict[str, Tensor]:
        """Parameters from predictors ``eta`` of shape (n, k); each value of shape (n,)."""
        return {
            name: _LINKS[link](eta[:, j]) for j, (name, link) in enumerate(zip(self.parameters, self.links))
        }

    def link(self, name: str, value: np.ndarray) -> np.ndarray:
        """The link of parameter ``name`` applied to ``value`` (numpy)."""
        link = self.links[self.parameters.index(name)]
        value = np.asarray(value, dtype=np.float64)
        if link == "log":
            return np.log(value)
        if link == "logit":
            return np.log(value) - np.log1p(-value)
        return value

    def log_prob(self, eta: Tensor, y: Tensor) -> Tensor:
        """Log density (or mass) of ``y`` (n,) given ``eta`` (n, k); shape (n,)."""
        return self.distribution(self.transform(eta)).log_prob(y)

    def distribution(self, params: Mapping[str, Tensor]) -> torch.distributions.Distribution:
        """The torch distribution with parameters ``params``."""
        raise NotImplementedError

    def location_information(self, eta: Tensor) -> Tensor:
        """Expected Fisher information of the location predictor, per row.

        ``E[(d log p(y) / d eta_loc)^2]`` given ``eta`` (n, k), shape (n,): the weight
        of a row in Fisher scoring for the location coefficients, and the weights of
        the orthogonalization cell (:mod:`structunstruct.nn.orthogonalization`).
        """
        raise NotImplementedError

    def mean(self, params: Mapping[str, Tensor]) -> Tensor:
        """Mean of y given the parameters."""
        return params["loc"]

    def variance(self, params: Mapping[str, Tensor]) -> Tensor:
        """Variance of y given the parameters."""
        raise NotImplementedError

    def scipy_distribution(self, params: Mapping[str, np.ndarray]) -> stats.rv_continuous:
        """The frozen :mod:`scipy.stats` distribution (for quantiles)."""
        raise NotImplementedError

    def quantile(self, params: Mapping[str, np.ndarray], q: float) -> np.ndarray:
        """The ``q`` quantile per row, shape (n,)."""
        return np.asarray(self.scipy_distribution(params).ppf(q), dtype=np.float64)

    def check_target(self, y: np.ndarray) -> None:
        """Raise a ``ValueError`` when ``y`` lies outside the family's support."""
        if not np.isfinite(y).all():
            raise ValueError(f"y must be finite for the {self.name} family")

    def initial_eta(self, y: np.ndarray) -> np.ndarray:
        """Constant starting predictors (one per parameter) from the marginal of ``y``."""
        raise NotImplementedError


class _LocationScale(Family):
    parameters = ("loc", "scale")
    links = ("identity", "log")

    def location_information(self, eta):
        return torch.exp(-2 * eta[:, 1])  # 1 / scale^2 (normal, log-normal, Laplace)

    def initial_eta(self, y: np.ndarray) -> np.ndarray:
        return np.array([y.mean(), math.log(max(y.std(), 1e-6))])


class NormalFamily(_LocationScale):
    """Normal: ``loc`` = mean, ``scale`` = standard deviation."""

    name = "normal"

    def distribution(self, params):
        return Normal(params["loc"], params["scale"], validate_args=False)

    def variance(self, params):
        return params["scale"] ** 2

    def scipy_distribution(self, params):
        return stats.norm(params["loc"], params["scale"])


class LaplaceFamily(_LocationScale):
    """Laplace: ``loc`` = mean = median, ``scale`` = b (variance 2 b^2)."""

    name = "laplace"
    smooth = False

    def distribution(self, params):
        return Laplace(params["loc"], params["scale"], validate_args=False)

    def variance(self, params):
        return 2 * params["scale"] ** 2

    def scipy_distribution(self, params):
        return stats.laplace(params["loc"], params["scale"])

    def initial_eta(self, y):
        return np.array([np.median(y), math.log(max(np.abs(y - np.median(y)).mean(), 1e-6))])


class StudentTFamily(_LocationScale):
    """Student-t: ``loc``, ``scale`` and degrees of freedom ``shape``."""

    name = "student_t"
    parameters = ("loc", "scale", "shape")
    links = ("identity", "log", "log")

    def distribution(self, params):
        return StudentT(params["shape"], params["loc"], params["scale"], validate_args=False)

    def variance(self, params):
        df = params["shape"]
        return torch.where(df > 2, params["scale"] ** 2 * df / (df - 2), torch.inf)

    def location_information(self, eta):
        df = torch.exp(torch.clamp(eta[:, 2], max=80.0))
        return (df + 1) / (df + 3) * torch.exp(-2 * eta[:, 1])

    def scipy_distribution(self, params):
        return stats.t(params["shape"], params["loc"], params["scale"])

    def initial_eta(self, y):
        return np.array([np.median(y), math.log(max(y.std() * 0.8, 1e-6)), math.log(5.0)])


class LogNormalFamily(_LocationScale):
    """Log-normal: ``loc`` and ``scale`` of log y; mean ``exp(loc + scale^2 / 2)``."""

    name = "lognormal"

    def distribution(self, params):
        return LogNormal(params["loc"], params["scale"], validate_args=False)

    def mean(self, params):
        return torch.exp(params["loc"] + params["scale"] ** 2 / 2)

    def variance(self, params):
        s2 = params["scale"] ** 2
        return (torch.exp(s2) - 1) * torch.exp(2 * params["loc"] + s2)

    def scipy_distribution(self, params):
        return stats.lognorm(s=params["scale"], scale=np.exp(params["loc"]))

    def check_target(self, y):
        super().check_target(y)
        _check_positive(y, self.name)

    def initial_eta(self, y):
        return super().initial_eta(np.log(y))


class PoissonFamily(Family):
    """Poisson: ``loc`` = mean (log link)."""

    name = "poisson"
    parameters = ("loc",)
    links = ("log",)
    discrete = True

    def log_prob(self, eta, y):
        eta = eta[:, 0]
        return y * eta - torch.exp(eta) - torch.lgamma(y + 1)

    def variance(self, params):
        return params["loc"]

    def location_information(self, eta):
        return torch.exp(torch.clamp(eta[:, 0], max=80.0))  # mu

    def scipy_distribution(self, params):
        return stats.poisson(params["loc"])

    def check_target(self, y):
        super().check_target(y)
        _check_counts(y, self.name)

    def initial_eta(self, y):
        return np.array([math.log(max(y.mean(), 1e-6))])


class NegativeBinomialFamily(Family):
    """Negative binomial (NB2): ``loc`` = mean, ``scale`` = alpha (var = mu + alpha mu^2)."""

    name = "negbin"
    parameters = ("loc", "scale")
    links = ("log", "log")
    discrete = True

    def distribution(self, params):
        size = 1 / params["scale"]
        logits = torch.log(params["loc"]) - torch.log(size)
        return NegativeBinomial(size, logits=logits, validate_args=False)

    def variance(self, params):
        return params["loc"] + params["scale"] * params["loc"] ** 2

    def location_information(self, eta):
        params = self.transform(eta)
        return params["loc"] / (1 + params["scale"] * params["loc"])  # mu / (1 + alpha mu)

    def scipy_distribution(self, params):
        size = 1 / params["scale"]
        return stats.nbinom(size, size / (size + params["loc"]))

    def check_target(self, y):
        super().check_target(y)
        _check_counts(y, self.name)

    def initial_eta(self, y):
        mu = max(y.mean(), 1e-6)
        return np.array([math.log(mu), math.log(max((y.var() - mu) / mu**2, 0.05))])


class GammaFamily(Family):
    """Gamma: ``loc`` = mean (log), ``scale`` = dispersion phi (shape 1/phi, log link)."""

    name = "gamma"
    parameters = ("loc", "scale")
    links = ("log", "log")

    def distribution(self, params):
        shape = 1 / params["scale"]
        return Gamma(shape, shape / params["loc"], validate_args=False)

    def variance(self, params):
        return params["scale"] * params["loc"] ** 2

    def location_information(self, eta):
        return torch.exp(-eta[:, 1])  # 1 / phi

    def scipy_distribution(self, params):
        return stats.gamma(1 / params["scale"], scale=params["loc"] * params["scale"])

    def check_target(self, y):
        super().check_target(y)
        _check_positive(y, self.name)

    def initial_eta(self, y):
        return np.array([math.log(y.mean()), math.log(max(y.var() / y.mean() ** 2, 1e-6))])


class BernoulliFamily(Family):
    """Bernoulli: ``loc`` = probability of y = 1 (logit link)."""

    name = "bernoulli"
    parameters = ("loc",)
    links = ("logit",)
    discrete = True

    def log_prob(self, eta, y):
        eta = eta[:, 0]
        return y * eta - nn.functional.softplus(eta)

    def variance(self, params):
        return params["loc"] * (1 - params["loc"])

    def location_information(self, eta):
        p = torch.sigmoid(eta[:, 0])
        return p * (1 - p)

    def scipy_distribution(self, params):
        return stats.bernoulli(params["loc"])

    def check_target(self, y):
        super().check_target(y)
        if not np.isin(y, (0, 1)).all():
            raise ValueError("y must be 0 or 1 for the bernoulli family")

    def initial_eta(self, y):
        p = min(max(y.mean(), 1e-4), 1 - 1e-4)
        return np.array([math.log(p / (1 - p))])


class BetaFamily(Family):
    """Beta: ``loc`` = mean mu (logit), ``scale`` = precision phi (log); a = mu phi."""

    name = "beta"
    parameters = ("loc", "scale")
    links = ("logit", "log")

    def distribution(self, params):
        mu, phi = params["loc"], params["scale"]
        return Beta(mu * phi, (1 - mu) * phi, validate_args=False)

    def variance(self, params):
        mu = params["loc"]
        return mu * (1 - mu) / (1 + params["scale"])

    def location_information(self, eta):
        params = self.transform(eta)
        mu, phi = params["loc"], params["scale"]
        trigamma = torch.polygamma(1, mu * phi) + torch.polygamma(1, (1 - mu) * phi)
        return (phi * mu * (1 - mu)) ** 2 * trigamma

    def scipy_distribution(self, params):
        mu, phi = params["loc"], params["scale"]
        return stats.beta(mu * phi, (1 - mu) * phi)

    def check_target(self, y):
        super().check_target(y)
        if ((y <= 0) | (y >= 1)).any():
            raise ValueError("y must lie strictly between 0 and 1 for the beta family")

    def initial_eta(self, y):
        mu = y.mean()
        phi = max(mu * (1 - mu) / max(y.var(), 1e-8) - 1, 0.5)
        return np.array([math.log(mu / (1 - mu)), math.log(phi)])


def _check_positive(y: np.ndarray, name: str) -> None:
    if (y <= 0).any():
        raise ValueError(f"y must be positive for the {name} family")


def _check_counts(y: np.ndarray, name: str) -> None:
    if (y < 0).any() or (np.round(y) != y).any():
        raise ValueError(f"y must hold non-negative integer counts for the {name} family")


FAMILIES: dict[str, type[Family]] = {
    cls.name: cls
    for cls in (
        NormalFamily, LogNormalFamily, StudentTFamily, LaplaceFamily, PoissonFamily,
        NegativeBinomialFamily, GammaFamily, BernoulliFamily, BetaFamily,
    )
}


def list_families() -> list[str]:
    """Names of the distribution families."""
    return sorted(FAMILIES)


def get_family(name: str) -> Family:
    """The family called ``name``; an unknown name raises, listing the known ones.

    Parameters
    ----------
    name : str
        A name of :func:`list_families`.

    Returns
    -------
    Family
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; known families: {list_families()}")
    return FAMILIES[name]()


class DistributionalPredictor(nn.Module):
    """One additive predictor per distribution parameter.

    The location (first parameter) uses a full predictor (structured + deep parts,
    e.g. :class:`~structunstruct.nn.AdditivePredictor` with a bias); every other
    parameter ``name`` is an intercept plus a linear function of
    ``batch["structured_" + name]``. An optional ``batch["offset"]`` (n,) is added to
    the location predictor.

    Parameters
    ----------
    location : nn.Module
        Maps a batch to ``{"eta", "structured", "deep"}`` of shape (n, 1).
    n_structured : sequence of int
        Structured columns of each further parameter (0 for a constant).
    names : sequence of str
        Names of the further parameters (``"scale"``, ``"shape"``).
    family : Family, optional
        When given and the location has an orthogonalization cell, the cell projects
        with the rows' location Fisher information (:meth:`Family.location_information`)
        as weights, evaluated at the structured predictors of every parameter (without
        gradient): with a modelled scale a row counts as it does in the likelihood.

    Attributes
    ----------
    out_dim : int
        Number of distribution parameters.
    """

    def __init__(
        self, location: nn.Module, n_structured: Sequence[int], names: Sequence[str], family: Family | None = None
    ) -> None:
        super().__init__()
        self.location = location
        self.family = family
        self.names = tuple(names)
        self.intercepts = nn.Parameter(torch.zeros(len(self.names)))
        # skip_init: no draw from torch's global generator (the weights are zeros anyway)
        self.linears = nn.ModuleDict(
            {name: torch.nn.utils.skip_init(nn.Linear, p, 1, bias=False)
             for name, p in zip(self.names, n_structured) if p}
        )
        for linear in self.linears.values():
            nn.init.zeros_(linear.weight)
        self.out_dim = 1 + len(self.names)

    def _further(self, batch: Mapping[str, Tensor], n: int) -> list[Tensor]:
        """Predictors of the further parameters, each of shape (n, 1)."""
        columns = []
        for j, name in enumerate(self.names):
            eta = self.intercepts[j].expand(n)[:, None]
            if name in self.linears:
                eta = eta + self.linears[name](batch["structured_" + name].float())
            columns.append(eta)
        return columns

    def orthogonalization_weight(self, batch: Mapping[str, Tensor]) -> Tensor | None:
        """Row weights of the location's orthogonalization cell, shape (n,), or ``None``.

        The location Fisher information at the structured predictors (intercepts,
        structured terms and offset; the deep part left out, so the weights do not
        depend on what they orthogonalize). ``None`` without a family or a cell.

        Parameters
        ----------
        batch : dict of str to Tensor
            Input tensors of one batch, by name (``"structured"``, further parameters'
            ``"structured_<name>"``, optionally ``"offset"``).
        """
        location = self.location
        if self.family is None or getattr(location, "orthogonalization", None) is None:
            return None
        with torch.no_grad():
            structured = batch["structured"].float()
            loc = location.structured(structured) if location.structured is not None else 0.0
            loc = loc + (location.bias if location.bias is not None else 0.0)
            loc = torch.zeros(structured.shape[0], 1, device=structured.device) + loc
            if "offset" in batch:
                loc = loc + batch["offset"].float()[:, None]
            eta = torch.cat([loc, *self._further(batch, loc.shape[0])], dim=1)
            return self.family.location_information(eta.double()).float()

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Predictors ``"eta"`` (n, out_dim); location parts ``"structured"``, ``"deep"`` (n, 1).

        Parameters
        ----------
        batch : dict of str to Tensor
            Input tensors of one batch, by name.
        """
        weight = self.orthogonalization_weight(batch)  # unused by a cell with a stored projection
        if weight is not None:
            batch = {**batch, "orthogonalization_weight": weight}
        outputs = self.location(batch)
        loc = outputs["eta"].float()
        if "offset" in batch:
            loc = loc + batch["offset"].float()[:, None]
        columns = [loc, *self._further(batch, loc.shape[0])]
        # the location's other outputs (modality embeddings) pass through
        return {**outputs, "eta": torch.cat(columns, dim=1)}


__all__ = ["FAMILIES", "DistributionalPredictor", "Family", "get_family", "list_families"]
