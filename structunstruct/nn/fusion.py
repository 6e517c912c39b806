"""Joint fusion of modality encodings, with modalities that may be absent."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .encoders.tabular import make_mlp


class ConcatFusion(nn.Module):
    """Concatenate modality encodings and pass them through an MLP.

    Parameters
    ----------
    in_dims : sequence of int
        Width of each modality's encoding, in the order they are given to ``forward``.
    hidden_layers : sequence of int
        Widths of the MLP after concatenation; empty means the concatenation itself.
    dropout : float
        Dropout after each hidden layer.

    Attributes
    ----------
    out_dim : int
    """

    def __init__(self, in_dims: Sequence[int], hidden_layers: Sequence[int] = (), dropout: float = 0.0):
        super().__init__()
        total = int(sum(in_dims))
        self.mlp = make_mlp(total, hidden_layers, dropout)
        self.out_dim = int(hidden_layers[-1]) if len(hidden_layers) else total

    def forward(self, encodings: Sequence[Tensor]) -> Tensor:
        """Fuse a list of (n, d_k) encodings into (n, out_dim).

        Parameters
        ----------
        encodings : sequence of Tensor
            One (n, d_k) encoding per modality.
        """
        fused = encodings[0] if len(encodings) == 1 else torch.cat(list(encodings), dim=1)
        return self.mlp(fused) if len(self.mlp) else fused


class FiLMFusion(nn.Module):
    """Modulate one encoding by the others (FiLM), then concatenate and apply an MLP.

    Feature-wise linear modulation (Perez et al. 2018) of the target encoding ``h``
    (the image's) by the concatenated other encodings ``c`` (tabular, text):
    ``h' = (1 + gamma(c)) * h + beta(c)`` with ``gamma, beta`` one linear map of ``c``,
    initialized at zero so the layer starts as plain concatenation. The fused
    features are ``MLP([h', c])``. Unlike concatenation followed by a ReLU MLP, this
    represents products of image and tabular features exactly, the interactions
    (e.g. an image finding that matters only for older patients) that DAFT
    (Pölsterl et al. 2021) brings into the CNN. Here the modulation acts on the
    pooled image features, not inside the last residual block as in DAFT.

    Parameters
    ----------
    in_dims : sequence of int
        Width of each modality's encoding, in the order given to ``forward``.
    target : int
        Position of the modulated encoding in that order.
    hidden_layers : sequence of int
        Widths of the MLP after modulation; empty means ``[h', c]`` itself.
    dropout : float
        Dropout after each hidden layer.

    Attributes
    ----------
    out_dim : int
    """

    def __init__(self, in_dims: Sequence[int], target: int, hidden_layers: Sequence[int] = (),
                 dropout: float = 0.0) -> None:
        super().__init__()
        in_dims = [int(d) for d in in_dims]
        if len(in_dims) < 2 or not 0 <= target < len(in_dims):
            raise ValueError(f"FiLM needs a target encoding and at least one other; got widths "
                             f"{in_dims} and target {target}")
        self.target = int(target)
        width = in_dims[target]
        conditioning = sum(in_dims) - width
        self.modulation = nn.Linear(conditioning, 2 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.mlp = make_mlp(sum(in_dims), hidden_layers, dropout)
        self.out_dim = int(hidden_layers[-1]) if len(hidden_layers) else sum(in_dims)

    def forward(self, encodings: Sequence[Tensor]) -> Tensor:
        """Fuse a list of (n, d_k) encodings into (n, out_dim)."""
        target = encodings[self.target]
        others = [e for k, e in enumerate(encodings) if k != self.target]
        condition = others[0] if len(others) == 1 else torch.cat(others, dim=1)
        scale, shift = self.modulation(condition.to(target.dtype)).chunk(2, dim=1)
        fused = torch.cat([target + scale * target + shift, condition], dim=1)
        return self.mlp(fused) if len(self.mlp) else fused


class ModalityFusionLayer(nn.Module):
    """A MultiSurv fusion (Vale-Silva & Rohr 2021) as a joint-fusion layer.

    MultiSurv's fusions (attention, max, sum, mean over modalities;
    :mod:`structunstruct.nn.multimodal.fusion`) need encodings of one width, while the
    encoders here have their own widths (tabular MLP, CNN, bag of words). Each
    encoding is therefore first projected by its own linear map to the common width
    ``max(in_dims)`` (the last layer of MultiSurv's per-modality subnetworks, which
    all end at one width), then fused, then passed through the MLP
    ``hidden_layers`` (MultiSurv's FCNN before the hazard outputs). A modality absent
    in a row reaches the layer as the learned missing embedding
    (:class:`MissingModalities`), not masked out of the fusion as in MultiSurv.

    Parameters
    ----------
    in_dims : sequence of int
        Width of each modality's encoding, in the order given to ``forward``.
    fusion : str
        A registered modality fusion (:func:`~structunstruct.nn.multimodal.list_modality_fusions`).
    hidden_layers : sequence of int
        Widths of the MLP after the fusion; empty means the fused vector itself.
    dropout : float
        Dropout after each hidden layer.

    Attributes
    ----------
    out_dim : int
    """

    def __init__(self, in_dims: Sequence[int], fusion: str, hidden_layers: Sequence[int] = (),
                 dropout: float = 0.0) -> None:
        super().__init__()
        from .multimodal.fusion import create_modality_fusion

        in_dims = [int(d) for d in in_dims]
        width = max(in_dims)
        self.projections = nn.ModuleList(nn.Linear(d, width) for d in in_dims)
        self.fusion = create_modality_fusion(fusion, width)
        self.mlp = make_mlp(width, hidden_layers, dropout)
        self.out_dim = int(hidden_layers[-1]) if len(hidden_layers) else width

    def forward(self, encodings: Sequence[Tensor]) -> Tensor:
        """Fuse a list of (n, d_k) encodings into (n, out_dim).

        Parameters
        ----------
        encodings : sequence of Tensor of shape (n, d_k)
            One encoding per modality, in the order of ``in_dims``.

        Returns
        -------
        Tensor of shape (n, out_dim)
            The fused representation.
        """
        dtype = encodings[0].dtype
        projected = torch.stack([p(e.to(dtype)) for p, e in zip(self.projections, encodings, strict=True)])
        fused = self.fusion(projected)
        return self.mlp(fused) if len(self.mlp) else fused


#: A fusion-layer builder: ``builder(in_dims, hidden_layers=..., dropout=..., names=...)``.
FusionBuilder = Callable[..., nn.Module]

#: Fusion layers of joint fusion, by name (:func:`register_fusion_layer`).
FUSION_LAYERS: dict[str, FusionBuilder] = {}


def register_fusion_layer(name: str, layer: type[nn.Module] | FusionBuilder) -> None:
    """Register a joint-fusion layer under ``name`` (usable as ``fusion_layer=name``).

    Parameters
    ----------
    name : str
    layer : nn.Module subclass or callable
        A class is built as ``layer(in_dims, hidden_layers=..., dropout=...)``; any other
        callable as ``layer(in_dims, hidden_layers=..., dropout=..., names=...)``, where
        ``names`` are the encoders' names in the order of ``in_dims`` (``"tabular"``,
        ``"image"`` or ``"image:<column>"``, ``"text"`` or ``"text:<column>"``). Either
        returns a module with an integer ``out_dim`` whose ``forward`` takes the list of
        (n, d_k) encodings and returns (n, out_dim).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a fusion layer name must be a non-empty string; got {name!r}")
    if isinstance(layer, type):
        check_fusion_class(layer)
    elif not callable(layer):
        raise TypeError(f"a fusion layer must be an nn.Module class or a builder function; got {layer!r}")
    FUSION_LAYERS[name] = layer


def list_fusion_layers() -> list[str]:
    """Names of the registered fusion layers, sorted."""
    return sorted(FUSION_LAYERS)


def check_fusion_class(cls: type) -> None:
    """Raise a ``TypeError`` unless ``cls`` is an ``nn.Module`` subclass."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"fusion_layer must be a registered name or a torch.nn.Module subclass; got {cls!r}")


def check_fusion_layer(layer: str | type) -> None:
    """Check a ``fusion_layer`` value before training.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered ones.
    TypeError
        For a class that is not an ``nn.Module`` subclass, or another type.
    """
    if isinstance(layer, str):
        if layer not in FUSION_LAYERS:
            raise ValueError(f"unknown fusion_layer {layer!r}; known: {list_fusion_layers()} "
                           "(or pass an nn.Module subclass)")
        return
    check_fusion_class(layer)


def create_fusion_layer(layer: str | type, in_dims: Sequence[int], hidden_layers: Sequence[int] = (),
                        dropout: float = 0.0, names: Sequence[str] | None = None) -> nn.Module:
    """Build the fusion layer ``layer`` (a registered name or an ``nn.Module`` subclass).

    Parameters
    ----------
    layer : str or type
    in_dims : sequence of int
        Width of each encoding, in the order given to ``forward``.
    hidden_layers : sequence of int
        Widths of the MLP after joining.
    dropout : float
    names : sequence of str, optional
        The encoders' names in the order of ``in_dims`` (for builders that need them, e.g. FiLM).

    Returns
    -------
    nn.Module
        With an integer ``out_dim``.
    """
    check_fusion_layer(layer)
    builder = FUSION_LAYERS[layer] if isinstance(layer, str) else layer
    kwargs = {"hidden_layers": tuple(hidden_layers), "dropout": dropout}
    if isinstance(builder, type):
        module = builder(list(in_dims), **kwargs)
    else:
        module = builder(list(in_dims), names=list(names or ()), **kwargs)
    if not isinstance(module, nn.Module) or not isinstance(getattr(module, "out_dim", None), int):
        raise TypeError(f"fusion layer {layer!r} must build an nn.Module with an integer out_dim attribute "
                        f"(the width of its output); got {type(module).__name__}")
    return module


def _film(in_dims: Sequence[int], hidden_layers: Sequence[int] = (), dropout: float = 0.0,
          names: Sequence[str] = ()) -> FiLMFusion:
    """FiLM modulating the one image encoding (``"image"`` or ``"image:<column>"``) by the others."""
    images = [name for name in names if name == "image" or name.startswith("image:")]
    if len(images) != 1 or len(names) < 2:
        raise ValueError("fusion_layer='film' modulates the image encoding (of one image column) by the other "
                         f"modalities; the encoders are {list(names)}")
    return FiLMFusion(in_dims, list(names).index(images[0]), hidden_layers, dropout)


def _modality_fusion(fusion: str) -> FusionBuilder:
    def build(in_dims: Sequence[int], hidden_layers: Sequence[int] = (), dropout: float = 0.0,
              names: Sequence[str] = ()) -> ModalityFusionLayer:
        return ModalityFusionLayer(in_dims, fusion, hidden_layers, dropout)

    build.__name__ = build.__qualname__ = f"{fusion}_fusion"
    return build


register_fusion_layer("concat", ConcatFusion)
register_fusion_layer("film", _film)
for _name in ("attention", "max", "mean", "sum"):
    register_fusion_layer(_name, _modality_fusion(_name))


def modality_keep_mask(present: Tensor, p: float, keep_one: bool = False) -> Tensor:
    """Which modalities of each row stay after modality dropout.

    Each present modality of each row is dropped independently with probability
    ``p`` (Cheerla & Gevaert 2019, "multimodal dropout").

    Parameters
    ----------
    present : Tensor of shape (n, k), bool
        Which of the ``k`` optional modalities each row has.
    p : float
        Dropout probability, in [0, 1).
    keep_one : bool
        If true, a row that has at least one modality but would lose all of them
        keeps one of its present modalities, chosen uniformly at random, so no row is
        left without an input.

    Returns
    -------
    Tensor of shape (n, k), bool
        A subset of ``present``.
    """
    keep = present & (torch.rand(present.shape, device=present.device) >= p)
    if not keep_one:
        return keep
    emptied = present.any(dim=1) & ~keep.any(dim=1)
    scores = torch.rand(present.shape, device=present.device).masked_fill(~present, -1.0)
    chosen = torch.nn.functional.one_hot(scores.argmax(dim=1), present.shape[1]).bool()
    return keep | (chosen & emptied[:, None])


class MissingModalities(nn.Module):
    """Encode modalities that may be absent; absent rows get a learned "missing" embedding.

    A modality is absent in a row when ``batch[name + "_present"]`` is false (a
    missing image or text) or, in training mode, when modality dropout drops it. The
    encoder runs only on the rows where its modality is used (so batch-norm
    statistics never see placeholders), and absent rows get a learned embedding of
    the encoding's width, initialized at zero, before fusion. Unlike the original
    multimodal dropout, which averages embeddings in a shared space and rescales the
    kept ones by ``1 / (1 - p)``, encodings here are concatenated, each modality in
    its own slots, so they are not rescaled: a present modality looks the same in
    training and prediction, and the missing embedding marks the absent slots.

    Parameters
    ----------
    dims : mapping of str to int
        Encoding width of each optional modality, by encoder name.
    p : float
        Modality dropout probability in training, in [0, 1).
    keep_one : bool
        Never drop every present optional modality of a row (see
        :func:`modality_keep_mask`); set when the predictor has no other input.
    """

    #: A step may leave an encoder unused (every row of a batch without its modality):
    #: data-parallel training must then look for unused parameters.
    skips_parameters = True

    def __init__(self, dims: Mapping[str, int], p: float = 0.0, keep_one: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"modality dropout must be in [0, 1); got {p}")
        self.embeddings = nn.ParameterDict({name: nn.Parameter(torch.zeros(int(d))) for name, d in dims.items()})
        self.p = float(p)
        self.keep_one = bool(keep_one)

    def keep_masks(self, batch: Mapping[str, Tensor], n: int, device: torch.device) -> dict[str, Tensor]:
        """Rows whose encoding is used, per optional modality, each of shape (n,), bool."""
        columns = [
            batch[f"{name}_present"].to(device=device, dtype=torch.bool)
            if f"{name}_present" in batch else torch.ones(n, dtype=torch.bool, device=device)
            for name in self.embeddings
        ]
        present = torch.stack(columns, dim=1)
        if self.training and self.p > 0:
            present = modality_keep_mask(present, self.p, self.keep_one)
        return {name: present[:, j] for j, name in enumerate(self.embeddings)}

    def encode(self, name: str, encoder: nn.Module, inputs: Sequence[Tensor], keep: Tensor) -> Tensor:
        """Encoding of shape (n, d): ``encoder`` on the kept rows, the missing embedding elsewhere."""
        if bool(keep.all()):
            return encoder(*inputs)
        missing = self.embeddings[name]
        if not bool(keep.any()):
            return missing.expand(keep.shape[0], -1)
        rows = keep.nonzero(as_tuple=True)[0]
        encoded = encoder(*(x[rows] for x in inputs))
        full = encoded.new_zeros(keep.shape[0], encoded.shape[1]).index_copy(0, rows, encoded)
        return torch.where(keep[:, None], full, missing.to(encoded.dtype)[None, :])
