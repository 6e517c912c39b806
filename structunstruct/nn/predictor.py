"""The additive predictor shared by every head: structured part + deep part."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .fusion import MissingModalities, create_fusion_layer
from .multimodal.embeddings import ModalityEmbeddings
from .orthogonalization import Orthogonalization


class AdditivePredictor(nn.Module):
    """``eta = X beta + h(U)``: a linear structured part plus a fused deep part.

    Parameters
    ----------
    n_structured : int
        Columns of the structured design (read from ``batch["structured"]``).
    encoders : mapping of str to nn.Module
        Modality encoders; each declares ``input_keys`` and ``out_dim``.
    fusion_layers : sequence of int
        Hidden widths after concatenating the encodings.
    dropout : float
        Dropout in the fusion MLP.
    orthogonalize : bool
        Orthogonalize the fused latent features against ``[1, X]`` (needs structured terms).
    n_outputs : int
        Width of the predictor (1 for Cox; one per distribution parameter elsewhere).
    bias : bool
        Whether the predictor has an intercept (not for Cox, where it is not identified).
    optional_modalities : sequence of str
        Names of encoders whose modality may be absent in a row: ``batch[name +
        "_present"]`` (bool, (n,)) marks the rows that have it (all rows when the key is
        not in the batch). Absent encodings are replaced by a learned missing embedding
        before fusion (:class:`~structunstruct.nn.fusion.MissingModalities`).
    fusion_layer : str or type
        How the encodings are joined: a name registered with
        :func:`~structunstruct.nn.fusion.register_fusion_layer` (``"concat"``:
        :class:`~structunstruct.nn.fusion.ConcatFusion`; ``"film"``:
        :class:`~structunstruct.nn.fusion.FiLMFusion` of the one image encoding, named
        ``"image"`` or ``"image:<column>"``, by the others; ``"attention"``, ``"max"``,
        ``"sum"``, ``"mean"``: MultiSurv's fusions,
        :class:`~structunstruct.nn.fusion.ModalityFusionLayer`) or an ``nn.Module``
        subclass (:func:`~structunstruct.nn.fusion.create_fusion_layer`).
    modality_dropout : float
        In training, drop each optional modality of each row with this probability.
        When the predictor has no other input (no structured part, no other encoder), a
        row never loses all of its modalities at once (a single optional modality is
        then never dropped).
    embedding_dim : int, optional
        When given (and there are at least two encoders), :meth:`forward` also returns
        the modality embeddings in one space of this width
        (:class:`~structunstruct.nn.multimodal.ModalityEmbeddings`: each encoding
        linearly projected when the encoders' widths differ), for a loss between
        modalities such as Cheerla & Gevaert's similarity loss.

    Attributes
    ----------
    out_dim : int
        Equal to ``n_outputs``.
    """

    def __init__(
        self,
        n_structured: int,
        encoders: Mapping[str, nn.Module] | None = None,
        fusion_layers: Sequence[int] = (),
        dropout: float = 0.0,
        orthogonalize: bool = False,
        n_outputs: int = 1,
        bias: bool = False,
        optional_modalities: Sequence[str] = (),
        modality_dropout: float = 0.0,
        fusion_layer: str | type = "concat",
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        encoders = dict(encoders or {})
        unknown = sorted(set(optional_modalities) - set(encoders))
        if unknown:
            raise ValueError(f"optional modalities {unknown} have no encoder; encoders: {sorted(encoders)}")
        self.n_structured = int(n_structured)
        self.structured = nn.Linear(n_structured, n_outputs, bias=False) if n_structured else None
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = None
        self.deep_head = None
        self.orthogonalization = None
        self.missing = None
        if optional_modalities:
            always_there = n_structured > 0 or len(optional_modalities) < len(encoders)
            self.missing = MissingModalities(
                {name: encoders[name].out_dim for name in optional_modalities},
                modality_dropout, keep_one=not always_there,
            )
        if encoders:
            self.fusion = create_fusion_layer(fusion_layer, [e.out_dim for e in encoders.values()],
                                              fusion_layers, dropout, names=list(encoders))
        if encoders:
            self.deep_head = nn.Linear(self.fusion.out_dim, n_outputs, bias=False)
            if orthogonalize and n_structured:
                self.orthogonalization = Orthogonalization()
        self.bias = nn.Parameter(torch.zeros(n_outputs)) if bias else None
        self.out_dim = int(n_outputs)
        self.embeddings = None
        if embedding_dim is not None:
            self.embeddings = ModalityEmbeddings({name: e.out_dim for name, e in encoders.items()}, embedding_dim)

    @property
    def has_deep_part(self) -> bool:
        """Whether any modality encoder is present."""
        return self.fusion is not None

    def encode(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Each modality's encoding, as the fusion receives it.

        Parameters
        ----------
        batch : dict of str to Tensor
            Input tensors of one batch, by name.

        Returns
        -------
        encodings : dict of str to Tensor
            By encoder name (in the encoders' order), each of shape (n, encoder.out_dim);
            an absent (or, in training, dropped) optional modality has the learned
            missing embedding in its rows.
        keep : dict of str to Tensor
            For the optional modalities only: the rows, (n,) bool, whose encoding is used.
        """
        keep: dict[str, Tensor] = {}
        if self.missing is not None:
            reference = batch["structured"]
            keep = self.missing.keep_masks(batch, reference.shape[0], reference.device)
        encodings = {}
        for name, encoder in self.encoders.items():
            inputs = [batch[k] for k in encoder.input_keys]
            if name in keep:
                encodings[name] = self.missing.encode(name, encoder, inputs, keep[name])
            else:
                encodings[name] = encoder(*inputs)
        return encodings, keep

    def latent(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Fused deep features before orthogonalization, shape (n, fusion.out_dim).

        Parameters
        ----------
        batch : dict of str to Tensor
            Input tensors of one batch, by name.
        """
        return self.fusion(list(self.encode(batch)[0].values()))

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Evaluate the predictor.

        Parameters
        ----------
        batch : mapping of str to Tensor
            ``"structured"`` of shape (n, n_structured), each encoder's inputs and,
            optionally, ``name + "_present"`` masks of the optional modalities and
            ``"orthogonalization_weight"`` (n,), the row weights of the
            orthogonalization cell's projection (equal weights without it).

        Returns
        -------
        dict with ``"eta"``, ``"structured"`` and ``"deep"``, each of shape (n, n_outputs);
        with ``embedding_dim``, also ``"embeddings"`` (n, n_encoders, embedding_dim) and
        ``"embeddings_present"`` (n, n_encoders), 1.0 where the modality's encoding is used.
        """
        structured = deep = None
        extra: dict[str, Tensor] = {}
        if self.structured is not None:
            structured = self.structured(batch["structured"])
        if self.fusion is not None:
            encodings, keep = self.encode(batch)
            latent = self.fusion(list(encodings.values()))
            if self.embeddings is not None:
                extra = self.embeddings(encodings, keep)
            if self.orthogonalization is not None:
                weight = batch.get("orthogonalization_weight")
                latent = self.orthogonalization(latent, batch["structured"], weight)
            deep = self.deep_head(latent)
        eta = _add(structured, deep)
        if eta is None:  # no part at all: the intercept alone
            reference = next(iter(batch.values()))
            eta = torch.zeros(reference.shape[0], self.out_dim, device=reference.device)
        eta = eta.float()  # the identity on float32; bf16 parts under autocast
        if self.bias is not None:
            eta = eta + self.bias
        structured = torch.zeros_like(eta) if structured is None else structured
        deep = torch.zeros_like(eta) if deep is None else deep
        return {"eta": eta, "structured": structured, "deep": deep, **extra}


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``a + b`` in float32, where a missing term (``None``) counts as zero.

    A single term is returned as it is, so a predictor with one part adds no
    operation (and no autograd node) to the training step.
    """
    if a is None:
        return b
    if b is None:
        return a
    return a.float() + b.float()
