"""A built-in word tokenizer: vocabulary learned on the training texts, padded ids."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .roles import check_no_missing

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
PAD, UNKNOWN = 0, 1


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers of a string."""
    return _WORD.findall(text.lower())


@dataclass
class WordTokenizer:
    """Map strings to fixed-length arrays of word ids.

    Parameters
    ----------
    max_tokens : int
        Tokens kept per text (longer texts are cut, shorter ones padded with 0).
    max_vocabulary : int
        Most frequent words kept; the rest map to the unknown id 1.
    min_count : int
        Words seen fewer times in training are unknown.
    """

    max_tokens: int = 64
    max_vocabulary: int = 5000
    min_count: int = 2
    vocabulary_: dict[str, int] = field(default_factory=dict, init=False)

    @property
    def n_ids(self) -> int:
        """Size of the id space (padding and unknown included)."""
        return len(self.vocabulary_) + 2

    def fit(self, texts: pd.Series, name: str) -> WordTokenizer:
        """Learn the vocabulary from the training texts."""
        counts = Counter(word for text in checked_texts(texts, name) for word in tokenize(text))
        frequent = [w for w, c in counts.most_common(self.max_vocabulary) if c >= self.min_count]
        self.vocabulary_ = {word: i + 2 for i, word in enumerate(frequent)}
        if not self.vocabulary_:
            raise ValueError(f"text column {name!r} has no word seen at least {self.min_count} times")
        return self

    def transform(self, texts: pd.Series, name: str) -> np.ndarray:
        """Word ids of shape (n_samples, max_tokens), int64, 0-padded."""
        out = np.zeros((len(texts), self.max_tokens), dtype=np.int64)
        for row, text in enumerate(checked_texts(texts, name)):
            ids = [self.vocabulary_.get(w, UNKNOWN) for w in tokenize(text)[: self.max_tokens]]
            out[row, : len(ids)] = ids
        return out


def checked_texts(texts: pd.Series, name: str) -> list[str]:
    """The texts as Python strings; a missing or non-string cell is an error naming the column."""
    check_no_missing(texts.isna().to_numpy(dtype=bool), texts.index, "text", name)
    bad = [i for i, t in texts.items() if not isinstance(t, str)]
    if bad:
        raise ValueError(f"text column {name!r} holds non-string values (first at index {bad[0]!r})")
    return texts.tolist()
