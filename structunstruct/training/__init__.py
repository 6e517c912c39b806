"""The one training loop, its callbacks, device/precision handling and seeding."""

from . import distributed  # noqa: F401 - the submodule, as structunstruct.training.distributed
from .callbacks import Callback, EarlyStopping, WeightAveraging
from .device import autocast, local_torch_seed, resolve_device, resolve_precision
from .loop import Trainer, TrainingConfig, iterate_batches, predict_outputs
from .optim import AdamW

__all__ = [
    "AdamW",
    "Callback",
    "EarlyStopping",
    "Trainer",
    "TrainingConfig",
    "WeightAveraging",
    "autocast",
    "iterate_batches",
    "local_torch_seed",
    "predict_outputs",
    "resolve_device",
    "resolve_precision",
]
