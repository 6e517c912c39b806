"""Resumable training: the whole training state, written at the end of every epoch.

With ``TrainingConfig(checkpoint_dir=...)`` the :class:`~structunstruct.training.Trainer`
writes ``checkpoint.pt`` in that directory after each epoch (after the callbacks have
seen the epoch's record). It holds everything the next epoch depends on:

- the module's weights and the optimizer's state (Adam moments, step counters);
- the state of every callback that has one (``Callback.state_dict``): the weight
  average of :class:`~structunstruct.training.WeightAveraging` and its step count,
  the best value, best epoch, patience counter and best weights of
  :class:`~structunstruct.training.EarlyStopping`;
- the history, the epoch number and whether a callback asked to stop;
- every random generator the loop draws from: the shuffling ``torch.Generator``,
  torch's global CPU generator (dropout, modality dropout, augmentation) and, when
  training on CUDA, that device's generator. The loop draws nothing from numpy; the
  registered batch samplers draw from the shuffling generator only (a sampler object
  with ``state_dict``/``load_state_dict`` has its state saved too).

A checkpoint is written atomically (a temporary file in the same directory, then
``os.replace``), so a process killed at any moment leaves either the previous or the
new checkpoint, never a torn one. Files hold plain tensors, numbers, strings, lists
and dicts written by ``torch.save`` and are read with ``torch.load(weights_only=True)``:
loading never unpickles arbitrary objects.

A ``fit`` that finds an unfinished checkpoint of the same run restores all of it and
continues with the next epoch, so it ends with the weights an uninterrupted fit ends
with (bitwise on the CPU with the same number of threads). "The same run" is decided
by a fingerprint: the caller's (an estimator's class and training parameters, see
:func:`estimator_fingerprint`), the shapes and a digest of the training and
validation tensors, the module's architecture and initial weights, the shuffling
generator's initial state, the optimisation settings and the callbacks' classes. An
unfinished checkpoint with another fingerprint raises a ``ValueError`` naming the
directory and the differing entries (it is never overwritten silently: it may be a
long run's only copy). A finished fit marks its checkpoint complete; a later ``fit``
with the same directory does not reuse a complete checkpoint but trains from scratch
(overwriting it), as a fit without ``checkpoint_dir`` would.

Under ``torch.distributed`` every rank's global generators are gathered and rank 0
writes the checkpoint; every rank reads it and resumes its own generators, so
``checkpoint_dir`` must be one directory that every process sees (a process that
finds another checkpoint than the others raises a ``ValueError``).

The estimators (``checkpoint_dir=`` of ``DeepSurv``, ``DeepPAMM`` and
``SemiStructuredRegressor``) add their class and parameters to the fingerprint and
need an integer ``random_state`` (the validation split and the initial weights are
drawn before training); the classical fits without a deep part train nothing and
write nothing; ``DeepSurv(risk_set_memory=...)`` is not resumable yet (its queue
lives in the loss) and raises ``NotImplementedError``; with ``fusion="late"`` each
member writes to the subdirectory named after its modality.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from . import distributed

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Trainer

#: File name of the checkpoint inside ``checkpoint_dir``.
CHECKPOINT_FILE = "checkpoint.pt"
#: Version of the checkpoint layout; a checkpoint of a newer version is refused.
CHECKPOINT_FORMAT = 1
#: Tensors up to this size are digested whole; larger ones by 256 evenly spaced rows.
DIGEST_BYTES = 64 * 2**20
#: Estimator parameters that do not change what is trained.
UNTRAINED_PARAMETERS = ("verbose", "checkpoint_dir", "callbacks")


def tensor_digest(tensor: Tensor) -> str:
    """A cheap digest of a tensor's shape, dtype and values.

    Tensors up to :data:`DIGEST_BYTES` are hashed whole (SHA-256 of their bytes);
    larger ones by their shape and 256 evenly spaced rows (a memory-mapped image
    array is not read whole).

    Parameters
    ----------
    tensor : Tensor

    Returns
    -------
    str
    """
    values = tensor.detach()
    if values.dim() > 0 and values.numel() * values.element_size() > DIGEST_BYTES:
        values = values[torch.linspace(0, len(values) - 1, 256, device=values.device).long()]
    values = values.cpu().reshape(-1).contiguous()
    digest = hashlib.sha256(f"{tuple(tensor.shape)} {tensor.dtype}".encode())
    digest.update(values.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _tensors_digest(tensors: Mapping[str, Tensor]) -> str:
    return ",".join(f"{k}:{tensor_digest(v)}" for k, v in sorted(tensors.items()))


def estimator_fingerprint(estimator: Any) -> dict[str, str]:
    """The part of a checkpoint's fingerprint that an estimator contributes.

    Its class and the ``repr`` of every parameter (``get_params(deep=False)``) but
    those in :data:`UNTRAINED_PARAMETERS`.

    Parameters
    ----------
    estimator : scikit-learn style estimator

    Returns
    -------
    dict of str to str
    """
    cls = type(estimator)
    params = estimator.get_params(deep=False)
    fingerprint = {"estimator": f"{cls.__module__}.{cls.__qualname__}"}
    fingerprint.update({f"param.{k}": repr(v) for k, v in sorted(params.items())
                        if k not in UNTRAINED_PARAMETERS})
    return fingerprint


def trainer_fingerprint(trainer: Trainer, train: Mapping[str, Tensor],
                        valid: Mapping[str, Tensor] | None) -> dict[str, str]:
    """The fingerprint of a run, taken before its first step.

    Parameters
    ----------
    trainer : Trainer
        With its initial weights and generator state.
    train, valid : dict of str to Tensor
        The training and validation rows.

    Returns
    -------
    dict of str to str
        The caller's entries (``config.checkpoint_fingerprint``) and the trainer's own.
    """
    config = trainer.config
    sampler = config.batch_sampler
    own = {
        "n_train": str(len(next(iter(train.values())))),
        "train": _tensors_digest(train),
        "valid": "none" if valid is None else _tensors_digest(valid),
        "module": f"{type(trainer.module).__qualname__} {_tensors_digest(trainer.module.state_dict())}",
        "generator": "none" if trainer.generator is None else tensor_digest(trainer.generator.get_state()),
        "config": repr((config.lr, config.weight_decay, config.batch_size, config.max_epochs,
                        config.device.type, config.autocast_dtype, config.grad_clip,
                        config.ema_decay, getattr(sampler, "__qualname__", repr(sampler)))),
        "callbacks": repr([type(cb).__qualname__ for cb in trainer.callbacks]),
        "world_size": str(distributed.world_size()),
    }
    return {**dict(config.checkpoint_fingerprint), **own}


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` as ``directory/checkpoint.pt`` atomically.

    Parameters
    ----------
    directory : str or path-like
        Created if missing.
    state : dict
        Tensors, numbers, strings, lists and dicts only.

    Returns
    -------
    pathlib.Path
        The checkpoint file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_FILE
    temporary = directory / f"{CHECKPOINT_FILE}.tmp-{os.getpid()}"
    with open(temporary, "wb") as file:
        torch.save(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def load_checkpoint(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The checkpoint in ``directory``, or ``None`` when there is none.

    Parameters
    ----------
    directory : str or path-like

    Returns
    -------
    dict or None
        With ``format``, ``fingerprint``, ``complete``, ``epoch`` and (while
        unfinished) the training state.

    Raises
    ------
    ValueError
        For a file that cannot be read or is of a newer format.
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file: name it, do not guess
        raise ValueError(f"cannot read the training checkpoint {str(path)!r} ({error}); "
                         "delete it to train from scratch") from error
    if not isinstance(state, dict) or state.get("format", CHECKPOINT_FORMAT + 1) > CHECKPOINT_FORMAT:
        raise ValueError(f"the training checkpoint {str(path)!r} is not of checkpoint format "
                         f"<= {CHECKPOINT_FORMAT} (written by a newer structunstruct?)")
    return state


def remove_stale_temporaries(directory: str | os.PathLike) -> None:
    """Delete temporary files left by a process killed while writing a checkpoint."""
    for stale in Path(directory).glob(f"{CHECKPOINT_FILE}.tmp-*"):
        stale.unlink(missing_ok=True)


class Checkpointer:
    """Writes and restores the training state of one run of a :class:`Trainer`.

    Parameters
    ----------
    directory : str or path-like
        Where ``checkpoint.pt`` lives.
    fingerprint : dict of str to str
        Identifies the run (:func:`trainer_fingerprint`).
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: dict[str, str]) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def restore(self, trainer: Trainer) -> int:
        """Restore an unfinished checkpoint of this run into ``trainer``.

        Call after the optimizer exists and the callbacks' ``on_train_begin`` ran.

        Parameters
        ----------
        trainer : Trainer

        Returns
        -------
        int
            The first epoch still to run (1 without a checkpoint to resume,
            ``max_epochs + 1`` when the checkpointed epoch stopped training).

        Raises
        ------
        ValueError
            When the directory holds an unfinished checkpoint of another run.
        """
        if distributed.is_main_process():
            remove_stale_temporaries(self.directory)
        state = load_checkpoint(self.directory)
        first = 1
        if state is not None and not state.get("complete", False):
            self._check_fingerprint(state["fingerprint"])
            restore_training_state(trainer, state)
            first = trainer.config.max_epochs + 1 if trainer.stop_training else int(state["epoch"]) + 1
        # a complete checkpoint is not reused: train from scratch (module docstring)
        firsts = distributed.all_gather_objects(first)
        if len(set(firsts)) > 1:
            raise ValueError(
                f"the processes found different checkpoints in checkpoint_dir {str(self.directory)!r} "
                f"(first epochs {firsts}); it must be one directory that every process sees"
            )
        return first

    def _check_fingerprint(self, saved: dict[str, str]) -> None:
        differing = sorted(k for k in set(saved) | set(self.fingerprint)
                           if saved.get(k) != self.fingerprint.get(k))
        if differing:
            raise ValueError(
                f"checkpoint_dir {str(self.directory)!r} holds an unfinished checkpoint of another "
                f"training run (differing: {differing}); resume it with the same estimator, "
                "parameters and data, or delete the directory or give another checkpoint_dir"
            )

    def save(self, trainer: Trainer, epoch: int) -> None:
        """Write the state after ``epoch``.

        Parameters
        ----------
        trainer : Trainer
        epoch : int
        """
        state = training_state(trainer)  # on every rank: the generators are gathered
        if distributed.is_main_process():
            save_checkpoint(self.directory, {"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint,
                                             "complete": False, "epoch": epoch, **state})

    def complete(self, epoch: int) -> None:
        """Mark the run finished (the training state is dropped: it is not resumed).

        Parameters
        ----------
        epoch : int
            The last epoch run.
        """
        if distributed.is_main_process():
            save_checkpoint(self.directory, {"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint,
                                             "complete": True, "epoch": epoch})
        distributed.all_gather_objects(None)  # a barrier: no rank starts another fit before this


def training_state(trainer: Trainer) -> dict[str, Any]:
    """Everything the next epoch of ``trainer`` depends on, as plain tensors and containers.

    Parameters
    ----------
    trainer : Trainer

    Returns
    -------
    dict
    """
    device = trainer.config.device
    sampler = trainer.config.batch_sampler
    return {
        "module": trainer.module.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "callbacks": [_callback_state(cb) for cb in trainer.callbacks],
        "history": list(trainer.history),
        "stop_training": bool(trainer.stop_training),
        "generator": None if trainer.generator is None else trainer.generator.get_state(),
        "global_rng": distributed.all_gather_objects({  # each rank's own dropout generators
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        }),
        "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
    }


def restore_training_state(trainer: Trainer, state: Mapping[str, Any]) -> None:
    """Put a :func:`training_state` back into ``trainer`` (weights copied in place).

    Parameters
    ----------
    trainer : Trainer
        After ``configure_optimizer`` and the callbacks' ``on_train_begin``.
    state : dict
    """
    trainer.module.load_state_dict(state["module"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    for cb, cb_state in zip(trainer.callbacks, state["callbacks"], strict=True):
        if cb_state is not None:
            cb.load_state_dict(cb_state)
    trainer.history = list(state["history"])
    trainer.stop_training = bool(state["stop_training"])
    if trainer.generator is not None:
        trainer.generator.set_state(state["generator"])
    own = state["global_rng"][distributed.rank()]
    torch.set_rng_state(own["cpu"])
    if own["cuda"] is not None:
        torch.cuda.set_rng_state(own["cuda"], trainer.config.device)
    if state["sampler"] is not None:
        trainer.config.batch_sampler.load_state_dict(state["sampler"])


def _callback_state(callback: Any) -> dict[str, Any] | None:
    state_dict = getattr(callback, "state_dict", None)
    return state_dict() if callable(state_dict) else None


__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "Checkpointer",
    "estimator_fingerprint",
    "load_checkpoint",
    "restore_training_state",
    "save_checkpoint",
    "tensor_digest",
    "trainer_fingerprint",
    "training_state",
]
