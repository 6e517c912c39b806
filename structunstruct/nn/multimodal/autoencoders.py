r"""ConcatAE and CrossAE: per-modality autoencoders whose codes feed the survival head.

Tong, Mitchel, Chatlin & Wang (2020), "Deep learning based feature-level integration
of multi-omics data for breast cancer patients survival analysis", BMC Medical
Informatics and Decision Making 20:225. Each modality ``m`` has an autoencoder
(encoder ``f_m``, decoder ``g_m``, code ``z_m = f_m(x_m)``); the codes are learned
without the survival target and then feed a survival model.

ConcatAE (the "complementary" principle)
    each autoencoder reconstructs its own modality,
    :math:`L = \sum_m \ell(x_m, g_m(z_m))`; the representation is the
    concatenation of the codes.
CrossAE (the "consensus" principle)
    each modality's code must also reconstruct the other modalities, which pulls
    the codes into one modality-invariant space:
    :math:`L = \sum_{m \ne m'} \ell(x_{m'}, g_{m'}(z_m)) + w \sum_m \ell(x_m, g_m(z_m))`
    (the cross term, plus the self term with weight ``self_weight``, 1 by default:
    each code recovers both modalities); the representation is the element-wise
    mean of the codes (``combine="mean"``) or their concatenation.

``\ell`` is the mean squared error over the entries of a modality.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..encoders.tabular import make_mlp
from ._pretrain import run_pretraining


class ModalityAutoencoder(nn.Module):
    """An encoder and a decoder of one modality.

    Parameters
    ----------
    encoder : torch.nn.Module
        Input of the modality -> code of shape (n, code_dim).
    decoder : torch.nn.Module
        Code -> reconstruction of the input's shape.
    code_dim : int
        Width of the code.

    Attributes
    ----------
    out_dim : int
        ``code_dim``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, code_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.out_dim = int(code_dim)

    @classmethod
    def mlp(cls, in_dim: int, code_dim: int, hidden_layers: Sequence[int] = (),
            dropout: float = 0.0) -> ModalityAutoencoder:
        """A fully connected autoencoder of flat (n, in_dim) inputs.

        The encoder is ``hidden_layers`` (Linear, ReLU, Dropout) then a linear map to
        ``code_dim``; the decoder mirrors it, ending in a linear map to ``in_dim``.

        Parameters
        ----------
        in_dim : int
            Width of the flat input.
        code_dim : int
            Width of the code.
        hidden_layers : sequence of int
            Widths of the encoder's hidden layers (the decoder's in reverse).
        dropout : float
            Dropout after each hidden layer.

        Returns
        -------
        ModalityAutoencoder
            The fully connected autoencoder.
        """
        hidden = [int(h) for h in hidden_layers]
        encoder = nn.Sequential(*make_mlp(in_dim, hidden, dropout),
                                nn.Linear(hidden[-1] if hidden else in_dim, code_dim))
        back = hidden[::-1]
        decoder = nn.Sequential(*make_mlp(code_dim, back, dropout),
                                nn.Linear(back[-1] if back else code_dim, in_dim))
        return cls(encoder, decoder, code_dim)

    def forward(self, x: Tensor) -> Tensor:
        """The code of ``x``, shape (n, out_dim).

        Parameters
        ----------
        x : Tensor
            Input of the modality, shape (n, ...).

        Returns
        -------
        Tensor of shape (n, out_dim)
            The encoder's code.
        """
        return self.encoder(x)


def _mse(target: Tensor, reconstruction: Tensor, name: str) -> Tensor:
    if reconstruction.shape != target.shape:
        raise ValueError(f"the decoder of modality {name!r} returns shape {tuple(reconstruction.shape)}; "
                         f"its input has shape {tuple(target.shape)}")
    return torch.mean((reconstruction - target) ** 2)


def _check_inputs(autoencoders: Mapping[str, ModalityAutoencoder], inputs: Mapping[str, Tensor]) -> None:
    missing = [name for name in autoencoders if name not in inputs]
    if missing:
        raise KeyError(f"inputs lack the modalities {missing}; the autoencoders are {list(autoencoders)}")


def reconstruction_loss(autoencoders: Mapping[str, ModalityAutoencoder], inputs: Mapping[str, Tensor],
                        codes: Mapping[str, Tensor] | None = None) -> Tensor:
    """Sum over modalities of the mean squared error of each one's own reconstruction.

    Parameters
    ----------
    autoencoders : mapping of str to ModalityAutoencoder
    inputs : mapping of str to Tensor
        The input of each modality, (n, ...).
    codes : mapping of str to Tensor, optional
        Codes already computed from ``inputs``.

    Returns
    -------
    Tensor
        Scalar ``sum_m mean((g_m(f_m(x_m)) - x_m)^2)``.
    """
    _check_inputs(autoencoders, inputs)
    codes = codes if codes is not None else {m: ae(inputs[m]) for m, ae in autoencoders.items()}
    return sum(_mse(inputs[m], ae.decoder(codes[m]), m) for m, ae in autoencoders.items())


def cross_reconstruction_loss(autoencoders: Mapping[str, ModalityAutoencoder],
                              inputs: Mapping[str, Tensor],
                              codes: Mapping[str, Tensor] | None = None) -> Tensor:
    """Sum over ordered pairs of modalities of the error of reconstructing one from the other's code.

    Parameters
    ----------
    autoencoders : mapping of str to ModalityAutoencoder
        At least two; all codes of one width.
    inputs : mapping of str to Tensor
    codes : mapping of str to Tensor, optional
        Codes already computed from ``inputs``.

    Returns
    -------
    Tensor
        Scalar ``sum_{m != m'} mean((g_{m'}(f_m(x_m)) - x_{m'})^2)``.
    """
    _check_inputs(autoencoders, inputs)
    codes = codes if codes is not None else {m: ae(inputs[m]) for m, ae in autoencoders.items()}
    return sum(
        _mse(inputs[target], autoencoders[target].decoder(codes[source]), target)
        for source in autoencoders for target in autoencoders if target != source
    )


class _Autoencoders(nn.Module):
    """Per-modality autoencoders (``self.autoencoders``) and their codes; ConcatAE and CrossAE."""

    autoencoders: nn.ModuleDict

    def codes(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The code of each modality, (n, code_dim), by name.

        Parameters
        ----------
        inputs : mapping of str to Tensor
            The input of each modality, (n, ...), by modality name.

        Returns
        -------
        dict of str to Tensor
            The code of each modality, shape (n, code_dim).
        """
        _check_inputs(self.autoencoders, inputs)
        return {m: ae(inputs[m]) for m, ae in self.autoencoders.items()}


class ConcatAE(_Autoencoders):
    """ConcatAE (Tong et al. 2020): own-modality autoencoders, codes concatenated.

    Parameters
    ----------
    autoencoders : mapping of str to ModalityAutoencoder
        One per modality, by modality name (the order of the concatenation).

    Attributes
    ----------
    out_dim : int
        Sum of the code widths.
    """

    def __init__(self, autoencoders: Mapping[str, ModalityAutoencoder]) -> None:
        super().__init__()
        if not autoencoders:
            raise ValueError("ConcatAE needs at least one autoencoder")
        self.autoencoders = nn.ModuleDict(dict(autoencoders))
        self.out_dim = sum(ae.out_dim for ae in self.autoencoders.values())

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """Concatenated codes, shape (n, out_dim).

        Parameters
        ----------
        inputs : mapping of str to Tensor
            The input of each modality, (n, ...), by modality name.

        Returns
        -------
        Tensor of shape (n, out_dim)
            The codes concatenated in the order of the autoencoders.
        """
        return torch.cat(list(self.codes(inputs).values()), dim=1)

    def loss(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """:func:`reconstruction_loss` of the batch.

        Parameters
        ----------
        inputs : mapping of str to Tensor
            The input of each modality, (n, ...), by modality name.

        Returns
        -------
        Tensor
            Scalar reconstruction loss.
        """
        return reconstruction_loss(self.autoencoders, inputs, self.codes(inputs))


class CrossAE(_Autoencoders):
    """CrossAE (Tong et al. 2020): each modality's code reconstructs the other modalities.

    Parameters
    ----------
    autoencoders : mapping of str to ModalityAutoencoder
        At least two, all with one code width (every decoder reads every code).
    self_weight : float
        Weight of the own-modality reconstruction term; 0 leaves the cross term only.
    combine : {"mean", "concat"}
        How the codes form the representation.

    Attributes
    ----------
    out_dim : int
        The code width (``"mean"``) or the sum of the widths (``"concat"``).
    """

    def __init__(self, autoencoders: Mapping[str, ModalityAutoencoder], self_weight: float = 1.0,
                 combine: str = "mean") -> None:
        super().__init__()
        widths = {m: ae.out_dim for m, ae in autoencoders.items()}
        if len(widths) < 2:
            raise ValueError(f"CrossAE needs at least two modalities; got {list(widths)}")
        if len(set(widths.values())) != 1:
            raise ValueError(f"CrossAE needs one code width for every modality; got {widths}")
        if combine not in ("mean", "concat"):
            raise ValueError(f"combine must be 'mean' or 'concat'; got {combine!r}")
        if self_weight < 0:
            raise ValueError(f"self_weight must be >= 0; got {self_weight!r}")
        self.autoencoders = nn.ModuleDict(dict(autoencoders))
        self.self_weight = float(self_weight)
        self.combine = combine
        width = next(iter(widths.values()))
        self.out_dim = width if combine == "mean" else width * len(widths)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The representation, shape (n, out_dim).

        Parameters
        ----------
        inputs : mapping of str to Tensor
            The input of each modality, (n, ...), by modality name.

        Returns
        -------
        Tensor of shape (n, out_dim)
            The mean or the concatenation of the codes (``combine``).
        """
        codes = list(self.codes(inputs).values())
        if self.combine == "mean":
            return torch.stack(codes).mean(dim=0)
        return torch.cat(codes, dim=1)

    def loss(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """Cross term plus ``self_weight`` times the own-modality term.

        Parameters
        ----------
        inputs : mapping of str to Tensor
            The input of each modality, (n, ...), by modality name.

        Returns
        -------
        Tensor
            Scalar reconstruction loss.
        """
        codes = self.codes(inputs)
        loss = cross_reconstruction_loss(self.autoencoders, inputs, codes)
        if self.self_weight > 0:
            loss = loss + self.self_weight * reconstruction_loss(self.autoencoders, inputs, codes)
        return loss


def pretrain_autoencoders(
    model: ConcatAE | CrossAE,
    batches: Iterable[Mapping[str, Tensor]],
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
) -> list[float]:
    """Train a :class:`ConcatAE` or :class:`CrossAE` on its reconstruction loss.

    Parameters
    ----------
    model : ConcatAE or CrossAE
        Trained in place.
    batches : iterable of mapping of str to Tensor
        Re-iterable (a list or DataLoader) of batches, each the inputs by modality.
    epochs : int
    lr, weight_decay : float
        Adam settings.

    Returns
    -------
    list of float
        Mean ``model.loss`` of each epoch.
    """
    if not isinstance(model, (ConcatAE, CrossAE)):
        raise TypeError(f"model must be a ConcatAE or CrossAE; got {type(model).__name__}")

    def batch_loss(batch: Any) -> Tensor:
        return model.loss(batch)

    return run_pretraining([model], batches, batch_loss, epochs=epochs, lr=lr, weight_decay=weight_decay)
