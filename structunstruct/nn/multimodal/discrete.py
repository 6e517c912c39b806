r"""The discrete-time survival head of MultiSurv: logistic hazards over intervals.

Vale-Silva & Rohr (2021) end MultiSurv in ``m`` sigmoid outputs, the conditional
probabilities of the event in each time interval given survival to its start, as in
nnet-survival (Gensheimer & Narasimhan 2019, PeerJ 7:e6257). Here it follows
pycox's ``LogisticHazard`` (Kvamme & Borgan 2019, arXiv:1910.06724): the network
outputs logits :math:`\phi_{ij}`, the hazard of grid point ``j`` is
:math:`h_{ij} = \sigma(\phi_{ij})`, the survival function is
:math:`S_i(t_j) = \prod_{l \le j} (1 - h_{il})`, and with the interval index
:math:`\kappa_i` and event indicator :math:`d_i` of row ``i`` the negative
log-likelihood is

.. math::

    -\log L_i = -\sum_{j < \kappa_i} \log(1 - h_{ij})
                - d_i \log h_{i\kappa_i} - (1 - d_i) \log(1 - h_{i\kappa_i}).

The grid ``cuts`` ``t_0 < t_1 < ... < t_m`` has one output per cut. As pycox's
``LabTransDiscreteTime`` with given cuts, :func:`discretize_survival` moves an
event to the first cut at or after its time and a censoring to the last cut at or
before it; times after ``t_m`` are censored at ``t_m``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.tabular import make_mlp

_REDUCTIONS = ("mean", "sum", "none")


def discretize_survival(time: Tensor, event: Tensor, cuts: Tensor) -> tuple[Tensor, Tensor]:
    """Interval indices and event indicators of (time, event) on the grid ``cuts``.

    Parameters
    ----------
    time : Tensor of shape (n,)
        Observed times, >= ``cuts[0]`` for censored rows.
    event : Tensor of shape (n,)
        1/True for an event, 0/False for censoring.
    cuts : Tensor of shape (m + 1,)
        Strictly increasing grid (usually starting at 0).

    Returns
    -------
    index : Tensor of shape (n,), int64
        Grid index in ``0 .. m``: for events the first cut ``>= time``, for
        censorings the last cut ``<= time``; ``m`` for times after the last cut.
    event : Tensor of shape (n,), float32
        The event indicator, 0 for times after the last cut.

    Raises
    ------
    ValueError
        If the cuts are not strictly increasing, a time is not finite, or a censored
        time lies before the first cut.
    """
    cuts = torch.as_tensor(cuts).reshape(-1)
    time = torch.as_tensor(time).reshape(-1).to(cuts.dtype)
    event = torch.as_tensor(event).reshape(-1).bool()
    if cuts.numel() < 1 or (cuts.numel() > 1 and not bool((cuts[1:] > cuts[:-1]).all())):
        raise ValueError("cuts must be a non-empty, strictly increasing grid")
    if time.shape != event.shape:
        raise ValueError(f"time and event must have one length; got {time.numel()} and {event.numel()}")
    if not bool(torch.isfinite(time).all()):
        raise ValueError("time has values that are not finite")
    last = cuts.numel() - 1
    after = time > cuts[-1]
    event = event & ~after
    up = torch.searchsorted(cuts, time, right=False)  # first cut >= time
    down = torch.searchsorted(cuts, time, right=True) - 1  # last cut <= time
    index = torch.where(event, up, down).clamp(max=last)
    if bool((index < 0).any()):
        raise ValueError(f"censored times before the first cut {float(cuts[0])} cannot be placed on the grid")
    return index.to(torch.int64), event.to(torch.float32)


def nll_logistic_hazard(logits: Tensor, index: Tensor, event: Tensor, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the logistic-hazard model (see the module docstring).

    Parameters
    ----------
    logits : Tensor of shape (n, m + 1)
        ``phi``; the hazards are ``sigmoid(phi)``.
    index : Tensor of shape (n,), int64
        Grid index of each row (:func:`discretize_survival`).
    event : Tensor of shape (n,)
        1 for an event at ``index``, 0 for censoring there.
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor
        Scalar, or shape (n,) with ``"none"``.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(_REDUCTIONS)}; got {reduction!r}")
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (n, n_intervals); got {tuple(logits.shape)}")
    index = index.reshape(-1, 1).to(torch.int64)
    if bool((index < 0).any()) or bool((index >= logits.shape[1]).any()):
        raise ValueError(f"interval indices must lie in 0 .. {logits.shape[1] - 1} (one logit per cut); "
                         f"got {int(index.min())} .. {int(index.max())}")
    target = torch.zeros_like(logits).scatter(1, index, event.reshape(-1, 1).to(logits.dtype))
    terms = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    loss = terms.cumsum(dim=1).gather(1, index).reshape(-1)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def logistic_hazard_survival(logits: Tensor) -> Tensor:
    """Survival function ``S(t_j) = prod_{l <= j} (1 - sigmoid(phi_l))``, shape (n, m + 1).

    Computed as ``exp(cumsum(logsigmoid(-phi)))``, exact for large logits.

    Parameters
    ----------
    logits : Tensor of shape (n, m + 1)
        ``phi``, one logit per grid point; the hazards are ``sigmoid(phi)``.

    Returns
    -------
    Tensor of shape (n, m + 1)
        Survival probability at each grid point.
    """
    return torch.exp(torch.cumsum(F.logsigmoid(-logits), dim=1))


class LogisticHazardLoss(nn.Module):
    """Module wrapper of :func:`nll_logistic_hazard`.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {list(_REDUCTIONS)}; got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: Tensor, index: Tensor, event: Tensor) -> Tensor:
        """Loss; see :func:`nll_logistic_hazard`.

        Parameters
        ----------
        logits : Tensor of shape (n, m + 1)
            ``phi``; the hazards are ``sigmoid(phi)``.
        index : Tensor of shape (n,), int64
            Grid index of each row (:func:`discretize_survival`).
        event : Tensor of shape (n,)
            1 for an event at ``index``, 0 for censoring there.

        Returns
        -------
        Tensor
            Scalar, or shape (n,) with ``reduction="none"``.
        """
        return nll_logistic_hazard(logits, index, event, self.reduction)


class LogisticHazardHead(nn.Module):
    """MultiSurv's FCNN head: an MLP, then one logit per grid point.

    Parameters
    ----------
    in_dim : int
        Width of the fused representation.
    n_intervals : int
        Number of outputs, ``len(cuts)``.
    hidden_layers : sequence of int
        Widths of the MLP before the output layer.
    dropout : float
        Dropout after each hidden layer.

    Attributes
    ----------
    out_dim : int
        ``n_intervals``.
    """

    def __init__(self, in_dim: int, n_intervals: int, hidden_layers: Sequence[int] = (),
                 dropout: float = 0.0) -> None:
        super().__init__()
        if n_intervals < 1:
            raise ValueError(f"n_intervals must be >= 1; got {n_intervals!r}")
        self.mlp = make_mlp(in_dim, hidden_layers, dropout)
        self.out = nn.Linear(int(hidden_layers[-1]) if len(hidden_layers) else in_dim, n_intervals)
        self.out_dim = int(n_intervals)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of shape (n, n_intervals); hazards are their sigmoid.

        Parameters
        ----------
        x : Tensor of shape (n, in_dim)
            The fused representation.

        Returns
        -------
        Tensor of shape (n, n_intervals)
            One logit per grid point.
        """
        return self.out(self.mlp(x) if len(self.mlp) else x)
