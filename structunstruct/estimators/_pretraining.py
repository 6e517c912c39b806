"""Pretraining of the modality encoders before the head's training (``pretraining=``).

A setting is a function in :data:`PRETRAININGS` (add one with
:func:`register_pretraining`); the fit template calls :func:`pretrain_module` once, on
the training rows, after the network is built and before the head's fits. It trains
the encoders of ``module_.encoders`` in place (with temporary projection heads,
decoders or temperatures, which are discarded) and returns its loss per epoch
(``pretraining_history_``); the whole network is then trained on the head's loss.

Settings
--------
``"correlation"``
    DeepCorrSurv (Yao et al. 2017): the encoders are trained to maximise the
    correlation of their embeddings, :func:`~structunstruct.nn.multimodal.correlation_loss`
    averaged over the pairs of modalities (at least two encoders).
``"autoencoder"``
    ConcatAE (Tong et al. 2020): each encoder with a decoder reconstructs its own
    modality, :func:`~structunstruct.nn.multimodal.reconstruction_loss`.
``"cross_autoencoder"``
    CrossAE (Tong et al. 2020): each modality's code must also reconstruct every other
    modality, :func:`~structunstruct.nn.multimodal.cross_reconstruction_loss` plus the
    own-modality term (at least two encoders).
``"contrastive"``
    CLIP (Radford et al. 2021): the symmetric InfoNCE of an image and a text encoder
    on the training pairs, :class:`~structunstruct.nn.multimodal.ClipLoss` with a
    learned temperature, averaged over the (image column, text column) pairs. As
    frozen early-fusion features: the pretrained backbone
    (``module_.encoders["image"].encoder``) given as ``image_encoder`` of a
    ``fusion="early"`` model extracts the image features once, untrained.

Embeddings compared between modalities need one width: when the encoders' widths
differ, each gets a linear projection to the smallest width. A decoder is an MLP (one
hidden layer of 64 units) from the code to the modality's input vector: the tabular
numeric columns and one-hot categorical levels; the standardized pixels, average
pooled to at most 32 x 32 and flattened; a text's bag-of-words counts over the
vocabulary. Rows missing a modality of the setting are left out. Batches are the
estimator's ``batch_size`` rows, shuffled each epoch; Adam with the estimator's ``lr``
and ``weight_decay``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import combinations, product
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import AdditivePredictor, BagOfWordsEncoder, TabularEncoder
from ..nn.encoders.pixels import StandardizedImageEncoder
from ..nn.encoders.tabular import make_mlp
from ..nn.multimodal import (
    ClipLoss,
    ModalityAutoencoder,
    correlation_loss,
    cross_reconstruction_loss,
    reconstruction_loss,
)
from ..nn.multimodal._pretrain import run_pretraining
from ..training import resolve_device

#: Largest side of the pooled images that the decoders reconstruct.
MAX_RECONSTRUCTED_SIDE = 32
#: Hidden width of the decoders.
DECODER_WIDTH = 64


@dataclass
class PretrainingTask:
    """What a pretraining setting needs.

    Attributes
    ----------
    name : str
        The setting (for error messages).
    encoders : dict of str to nn.Module
        The network's modality encoders, by name (``module_.encoders``).
    tensors : dict of str to Tensor
        The training inputs, on the CPU.
    epochs, batch_size : int
    lr, weight_decay : float
    generator : torch.Generator
        Shuffles the rows.
    device : torch.device
    """

    name: str
    encoders: dict[str, nn.Module]
    tensors: dict[str, Tensor]
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    generator: torch.Generator
    device: torch.device

    def run(self, modules: list[nn.Module], batch_loss: Callable[[dict], Tensor],
            modalities: list[str]) -> list[float]:
        """Train ``modules`` (the encoders among them) on ``batch_loss`` over the rows
        that have every one of ``modalities``; the mean loss per epoch."""
        for module in modules:
            module.to(self.device)
        try:
            batches = EpochBatches(self.tensors, _complete_rows(self.tensors, modalities), self.batch_size,
                                   self.generator, self.device)
            return run_pretraining(modules, batches, batch_loss, epochs=self.epochs, lr=self.lr,
                                   weight_decay=self.weight_decay)
        finally:
            for module in modules:
                module.to("cpu")


class EpochBatches:
    """Re-iterable mini-batches of some rows, shuffled anew each pass (each >= 2 rows)."""

    def __init__(self, tensors: Mapping[str, Tensor], rows: Tensor, batch_size: int,
                 generator: torch.Generator, device: torch.device) -> None:
        if len(rows) < 2:
            raise ValueError(f"pretraining needs at least two rows with every modality; got {len(rows)}")
        self.tensors, self.rows, self.batch_size = tensors, rows, int(batch_size)
        self.generator, self.device = generator, device

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        order = self.rows[torch.randperm(len(self.rows), generator=self.generator)]
        chunks = list(order.split(self.batch_size))
        if len(chunks) > 1 and len(chunks[-1]) < 2:  # a batch of one row has no correlation
            chunks[-2:] = [torch.cat(chunks[-2:])]
        for chunk in chunks:
            yield {k: v[chunk].to(self.device) for k, v in self.tensors.items()}


def _complete_rows(tensors: Mapping[str, Tensor], modalities: list[str]) -> Tensor:
    n = len(next(iter(tensors.values())))
    keep = torch.ones(n, dtype=torch.bool)
    for name in modalities:
        if f"{name}_present" in tensors:
            keep &= tensors[f"{name}_present"].bool()
    return keep.nonzero(as_tuple=True)[0]


def encode(encoder: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """An encoder's output on a batch (its ``input_keys`` as arguments)."""
    return encoder(*(batch[k] for k in encoder.input_keys))


def projections(encoders: Mapping[str, nn.Module]) -> nn.ModuleDict:
    """A linear map of each encoding to the smallest width (identities when all are equal)."""
    widths = {name: int(e.out_dim) for name, e in encoders.items()}
    dim = min(widths.values())
    same = len(set(widths.values())) == 1
    return nn.ModuleDict({name: nn.Identity() if same else nn.Linear(w, dim) for name, w in widths.items()})


def _need(task: PretrainingTask, names: list[str], what: str) -> None:
    if len(names) < 2:
        raise ValueError(
            f"pretraining={task.name!r} needs {what}; the network's modality encoders are "
            f"{list(task.encoders)} (image columns have one with fusion='joint', text columns "
            "with text_encoder='bow', the tabular columns one network)"
        )


# -- reconstruction targets ------------------------------------------------------------
def reconstruction_target(encoder: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """The vector a decoder reconstructs for a modality, shape (n, width), float32."""
    if isinstance(encoder, StandardizedImageEncoder):
        pixels = encoder.standardize(batch[encoder.input_keys[0]])
        side = (min(pixels.shape[-2], MAX_RECONSTRUCTED_SIDE), min(pixels.shape[-1], MAX_RECONSTRUCTED_SIDE))
        return F.adaptive_avg_pool2d(pixels, side).flatten(1)
    if isinstance(encoder, TabularEncoder):
        numeric, categorical = (batch[k] for k in encoder.input_keys)
        one_hot = [F.one_hot(categorical[:, j].long(), emb.num_embeddings).float()
                   for j, emb in enumerate(encoder.embeddings)]
        return torch.cat([numeric.float(), *one_hot], dim=1)
    if isinstance(encoder, BagOfWordsEncoder):
        ids = batch[encoder.input_keys[0]].long()
        counts = torch.zeros(ids.shape[0], encoder.embedding.num_embeddings, device=ids.device)
        counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=counts.dtype))
        return counts[:, 1:]  # id 0 is padding
    raise TypeError(f"no reconstruction target for an encoder of type {type(encoder).__name__}; "
                    "autoencoder pretraining knows image, tabular and bag-of-words text encoders")


def _autoencoders(task: PretrainingTask, code_dims: Mapping[str, int]) -> dict[str, ModalityAutoencoder]:
    sample = {k: v[:2] for k, v in task.tensors.items()}
    autoencoders = {}
    for name, encoder in task.encoders.items():
        width = reconstruction_target(encoder, sample).shape[1]
        decoder = nn.Sequential(*make_mlp(code_dims[name], [DECODER_WIDTH], 0.0), nn.Linear(DECODER_WIDTH, width))
        autoencoders[name] = ModalityAutoencoder(encoder, decoder, code_dims[name])
    return autoencoders


# -- the settings -----------------------------------------------------------------------
def pretrain_correlation(task: PretrainingTask) -> list[float]:
    """DeepCorrSurv (Yao et al. 2017): maximise the correlation of every pair of embeddings."""
    names = list(task.encoders)
    _need(task, names, "at least two modality encoders")
    heads, pairs = projections(task.encoders), list(combinations(names, 2))

    def batch_loss(batch: dict) -> Tensor:
        z = {m: heads[m](encode(task.encoders[m], batch)) for m in names}
        return sum(correlation_loss(z[a], z[b]) for a, b in pairs) / len(pairs)

    return task.run([nn.ModuleDict(task.encoders), heads], batch_loss, names)


def pretrain_concat_autoencoder(task: PretrainingTask) -> list[float]:
    """ConcatAE (Tong et al. 2020): each encoder's code reconstructs its own modality."""
    autoencoders = _autoencoders(task, {m: int(e.out_dim) for m, e in task.encoders.items()})
    decoders = nn.ModuleList(ae.decoder for ae in autoencoders.values())

    def batch_loss(batch: dict) -> Tensor:
        targets = {m: reconstruction_target(e, batch) for m, e in task.encoders.items()}
        codes = {m: encode(e, batch) for m, e in task.encoders.items()}
        return reconstruction_loss(autoencoders, targets, codes)

    return task.run([nn.ModuleDict(task.encoders), decoders], batch_loss, list(task.encoders))


def pretrain_cross_autoencoder(task: PretrainingTask) -> list[float]:
    """CrossAE (Tong et al. 2020): each code reconstructs every modality (cross plus own term)."""
    names = list(task.encoders)
    _need(task, names, "at least two modality encoders")
    heads = projections(task.encoders)
    dim = min(int(e.out_dim) for e in task.encoders.values())
    autoencoders = _autoencoders(task, dict.fromkeys(names, dim))
    decoders = nn.ModuleList(ae.decoder for ae in autoencoders.values())

    def batch_loss(batch: dict) -> Tensor:
        targets = {m: reconstruction_target(e, batch) for m, e in task.encoders.items()}
        codes = {m: heads[m](encode(e, batch)) for m, e in task.encoders.items()}
        return (cross_reconstruction_loss(autoencoders, targets, codes)
                + reconstruction_loss(autoencoders, targets, codes))

    return task.run([nn.ModuleDict(task.encoders), heads, decoders], batch_loss, names)


def pretrain_clip(task: PretrainingTask) -> list[float]:
    """CLIP (Radford et al. 2021): symmetric InfoNCE of each (image, text) encoder pair."""
    images = [m for m in task.encoders if m == "image" or m.startswith("image:")]
    texts = [m for m in task.encoders if m == "text" or m.startswith("text:")]
    if not images or not texts:
        _need(task, [], "an image encoder and a text encoder (fusion='joint', text_encoder='bow')")
    used = {m: task.encoders[m] for m in (*images, *texts)}
    heads, pairs = projections(used), list(product(images, texts))
    losses = nn.ModuleList(ClipLoss() for _ in pairs)

    def batch_loss(batch: dict) -> Tensor:
        z = {m: heads[m](encode(e, batch)) for m, e in used.items()}
        return sum(loss(z[a], z[b]) for loss, (a, b) in zip(losses, pairs)) / len(pairs)

    return task.run([nn.ModuleDict(used), heads, losses], batch_loss, list(used))


#: Pretraining settings by name: a function of a :class:`PretrainingTask` returning the
#: mean loss of each epoch.
PRETRAININGS: dict[str, Callable[[PretrainingTask], list[float]]] = {
    "correlation": pretrain_correlation,
    "autoencoder": pretrain_concat_autoencoder,
    "cross_autoencoder": pretrain_cross_autoencoder,
    "contrastive": pretrain_clip,
}


def register_pretraining(name: str, function: Callable[[PretrainingTask], list[float]]) -> None:
    """Add a pretraining setting (``pretraining=name``); an existing name is refused."""
    if name in PRETRAININGS:
        raise ValueError(f"pretraining {name!r} is already registered")
    PRETRAININGS[name] = function


def list_pretrainings() -> list[str]:
    """The names of the pretraining settings."""
    return sorted(PRETRAININGS)


def pretrain_module(estimator: Any, predictor: AdditivePredictor | None, tensors: dict[str, Tensor],
                    generator: torch.Generator) -> list[float]:
    """Run ``estimator.pretraining`` on the encoders of ``predictor``; the loss per epoch."""
    task = PretrainingTask(
        name=estimator.pretraining,
        encoders=dict(predictor.encoders.items()) if predictor is not None else {},
        tensors=tensors,
        epochs=int(estimator.pretraining_epochs),
        batch_size=int(estimator.batch_size),
        lr=float(estimator.lr),
        weight_decay=float(estimator.weight_decay),
        generator=generator,
        device=resolve_device(estimator.device),
    )
    if not task.encoders:
        _need(task, [], "modality encoders (a deep part)")
    return PRETRAININGS[estimator.pretraining](task)


__all__ = [
    "PRETRAININGS",
    "PretrainingTask",
    "list_pretrainings",
    "pretrain_module",
    "register_pretraining",
]
