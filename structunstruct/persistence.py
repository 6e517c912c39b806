"""Saving and loading fitted estimators without pickle.

A saved model is a **directory** holding three files:

``config.json``
    The class, its parameters (``get_params()``), the package version, the format
    version and the fitted state, as JSON. Values JSON cannot hold are references:
    numeric arrays name a key of ``arrays.safetensors``; pandas objects, tuples,
    dataclasses and classes of this package are tagged records (``{"kind": ...}``).
``arrays.safetensors``
    Every fitted numeric array (baselines, projections, scalers, cuts, spline bases ...).
``weights.safetensors``
    The state dicts of the torch networks (``module_`` of each estimator, nested
    estimators included), keyed by ``<attribute path>.<parameter name>``.

Only an allowlist of types is written: JSON scalars, numpy arrays and scalars,
pandas Series/DataFrame/Index/MultiIndex/Categorical, lists, tuples, sets, dicts,
``pathlib`` paths and instances (or functions) of classes defined in ``structunstruct``
(re-created as ``cls.__new__`` plus their ``__dict__``). Anything else raises a
:class:`TypeError` naming the attribute at save time; nothing is dropped silently.
Networks are not serialized as objects: loading rebuilds them with the estimator's
own build step from the restored fitted state (pretrained weights are not read) and
loads the saved weights strictly, on the CPU. Loading never unpickles.

Where an estimator's fitted state changes shape (a restructure of the estimators), the
network builders at the end of this module are the one place to update; the tests in
``tests/test_persistence.py`` save and load every estimator and fusion.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from safetensors.torch import load_file as load_weights
from safetensors.torch import save_file as save_weights

#: Version of the on-disk layout; a file from a newer version is refused.
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
ARRAYS_FILE = "arrays.safetensors"
WEIGHTS_FILE = "weights.safetensors"
_PACKAGE = "structunstruct"
_NUMERIC_KINDS = "biuf"  # numpy dtype kinds safetensors stores

#: ``"module:qualname"`` of a class -> ``function(owner, state_dict)`` returning a fresh network
#: of the architecture of the owner's fitted network (filled below: the estimators' ``module_``
#: and the frozen encoder of early fusion). Networks of other classes are refused at save time.
MODULE_BUILDERS: dict[str, Callable[[Any, dict], torch.nn.Module]] = {}


#: Old class path -> new class path, for files written before a class moved inside the
#: package (internal classes such as the input builder are saved by their module path).
CLASS_ALIASES: dict[str, str] = {
    "structunstruct.data.features:FrozenEncoderFeatures": "structunstruct.nn.encoders.frozen:FrozenEncoderFeatures",
}

#: Old module -> new module, for files written before a module moved (issue 12 gave every
#: head's math one package under :mod:`structunstruct.heads`).
MODULE_ALIASES: dict[str, str] = {
    "structunstruct.classical.cox": "structunstruct.heads.cox.fitter",
    "structunstruct.nn.losses": "structunstruct.heads.cox.loss",
    "structunstruct.data.ped": "structunstruct.heads.pamm.ped",
    "structunstruct.nn.pamm": "structunstruct.heads.pamm.module",
    "structunstruct.classical.glm": "structunstruct.heads.pamm.glm",
    "structunstruct.estimators._pamm_terms": "structunstruct.heads.pamm.terms",
    "structunstruct.estimators._pamm_effects": "structunstruct.heads.pamm.effects",
    "structunstruct.nn.families": "structunstruct.heads.distributional.families",
    "structunstruct.classical.distributional": "structunstruct.heads.distributional.fitter",
    "structunstruct.estimators._ssdr_structured": "structunstruct.heads.distributional.terms",
    "structunstruct.estimators._ssdr_deep": "structunstruct.heads.distributional.deep",
    "structunstruct.estimators.summary": "structunstruct.classical.summary",
}

#: ``"module:qualname"`` -> ``function(state) -> state`` turning the saved ``__dict__`` of an
#: object written by an older layout of its class into the current one (applied on load,
#: after the object's own attributes are decoded). The structured design registers its
#: pre-formulaic layout here (:mod:`structunstruct.data.design`).
STATE_UPGRADES: dict[str, Callable[[dict], dict]] = {}


def _without_late_fusion(state: dict) -> dict:
    """Estimators saved before ``fusion="late"`` existed on them have no ``late_``."""
    return {"late_": None, **state} if "module_" in state else state


for _name in ("DeepPAMM", "SemiStructuredRegressor"):
    STATE_UPGRADES[f"{_PACKAGE}:{_name}"] = _without_late_fusion

#: Per-modality attributes of the one-image/one-text input builder (before several columns).
_SINGLE_COLUMN_INPUTS = ("images_", "text_", "image_features_", "feature_mean_", "feature_std_",
                         "text_features_", "text_mean_", "text_std_")


def _roles_as_column_tuples(state: dict) -> dict:
    """``image``/``text`` of ColumnRoles saved as one column (or None) become tuples."""
    for role in ("image", "text"):
        value = state.get(role)
        if value is None or isinstance(value, str):
            state[role] = () if value is None else (value,)
    return state


def _per_column_inputs(state: dict) -> dict:
    """An input builder saved before several image/text columns (tabular models only)."""
    if "image_inputs_" in state:
        return state
    if any(state.get(name) is not None for name in _SINGLE_COLUMN_INPUTS):
        raise OSError(
            "this model was saved by a structunstruct before several image/text columns "
            "(its image or text inputs cannot be converted); refit it with this version"
        )
    state = {k: v for k, v in state.items() if k not in _SINGLE_COLUMN_INPUTS}
    return {"image_inputs_": {}, "text_inputs_": {}, "share_vocabulary": False, **state}


STATE_UPGRADES[f"{_PACKAGE}.data.roles:ColumnRoles"] = _roles_as_column_tuples
STATE_UPGRADES[f"{_PACKAGE}.data.inputs:InputBuilder"] = _per_column_inputs


def _parameter_defaults(cls: type) -> dict:
    """The constructor defaults of an estimator of this package (a parameter added after a
    file was written takes its default, which keeps the behaviour of before)."""
    if not issubclass(cls, PersistenceMixin):
        return {}
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def class_path(cls: type) -> str:
    """``"module:qualname"`` of ``cls``; the public path (``"structunstruct:DeepSurv"``) when it has one.

    Public names are fixed by the design, so files of the estimators survive moves of
    the modules that define them.
    """
    import structunstruct

    if getattr(structunstruct, cls.__name__, None) is cls:
        return f"{_PACKAGE}:{cls.__name__}"
    return f"{cls.__module__}:{cls.__qualname__}"


class _Writer:
    """Encode a fitted object graph as JSON plus two dicts of arrays/tensors."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.weights: dict[str, torch.Tensor] = {}

    def array(self, value: np.ndarray, path: str) -> dict:
        if value.dtype.kind in _NUMERIC_KINDS and not value.dtype.hasobject:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.ascontiguousarray(value)
            return {"kind": "ndarray", "key": key, "shape": list(value.shape)}  # 0-d kept
        if value.dtype.kind in "USO":  # strings and objects (levels, names): element by element
            elements = value.ravel() if value.dtype.kind == "O" else value.ravel().tolist()
            items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(elements)]
            return {"kind": "ndarray_items", "dtype": value.dtype.str, "shape": list(value.shape),
                    "items": items}
        if value.dtype.kind in "mM":
            return {"kind": "ndarray_time", "dtype": value.dtype.str,
                    "values": self.array(value.view(np.int64), path)}
        raise TypeError(f"cannot save {path}: numpy arrays of dtype {value.dtype} are not supported")

    def tensor(self, value: torch.Tensor, path: str) -> dict:
        key = f"t{len(self.weights)}|{path}"
        self.weights[key] = value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        return {"kind": "tensor", "key": key}

    def module(self, value: torch.nn.Module, path: str) -> dict:
        for name, tensor in value.state_dict().items():
            self.weights[f"{path}.{name}"] = tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        return {"kind": "module", "prefix": path}

    def encode(self, value: Any, path: str) -> Any:  # noqa: C901 - one branch per allowed type
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value if isinstance(value, int) or np.isfinite(value) else {"kind": "float", "repr": repr(value)}
        if isinstance(value, np.generic):
            return {"kind": "npscalar", "value": self.array(np.asarray(value), path)}
        if isinstance(value, np.ndarray):
            return self.array(value, path)
        if isinstance(value, torch.nn.Module):
            raise TypeError(
                f"cannot save {path}: torch modules are saved only as the fitted network of an "
                f"object with a registered builder (MODULE_BUILDERS), not {type(value).__name__} "
                "here; a module given as a parameter (e.g. image_encoder) cannot be saved: pass "
                "a timm model name"
            )
        if isinstance(value, torch.Tensor):
            return self.tensor(value, path)
        if isinstance(value, (pd.DataFrame, pd.Series, pd.Index, pd.Categorical)):
            return self.pandas(value, path)
        if isinstance(value, (np.dtype, pd.api.extensions.ExtensionDtype)):
            return self.dtype(value, path)
        if isinstance(value, (list, tuple, set, frozenset)):
            kind = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}.get(type(value))
            if kind is None:
                return self.instance(value, path)  # a namedtuple of this package
            items = sorted(value, key=repr) if kind in ("set", "frozenset") else value
            return {"kind": kind, "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(items)]}
        if type(value) is dict:
            return {"kind": "dict", "items": [
                [self.encode(k, f"{path}<key>"), self.encode(v, f"{path}[{k!r}]")] for k, v in value.items()
            ]}
        if value is pd.NA or value is pd.NaT:
            return {"kind": "NA" if value is pd.NA else "NaT"}
        if isinstance(value, PurePath):
            return {"kind": "path", "value": str(value)}
        if isinstance(value, torch.device):
            return {"kind": "device", "value": str(value)}
        if isinstance(value, type) or inspect.isroutine(value):
            return self.reference(value, path)
        return self.instance(value, path)

    def reference(self, value: Any, path: str) -> dict:
        module = getattr(value, "__module__", "") or ""
        if not module.startswith(f"{_PACKAGE}.") or "<" in value.__qualname__:
            raise TypeError(
                f"cannot save {path}: {value!r} is not a class or function of {_PACKAGE} "
                "(callables are saved by import path only from this package)"
            )
        return {"kind": "ref", "path": f"{module}:{value.__qualname__}"}

    def instance(self, value: Any, path: str) -> dict:
        cls = type(value)
        if not cls.__module__.startswith(f"{_PACKAGE}.") or "<" in cls.__qualname__:
            raise TypeError(
                f"cannot save {path}: objects of type {cls.__module__}.{cls.__qualname__} are not "
                f"in the saveable allowlist (JSON types, numpy, pandas, torch tensors, classes of "
                f"{_PACKAGE})"
            )
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
            fields = {name: getattr(value, name) for name in value._fields}
            return {"kind": "namedtuple", "class": class_path(cls),
                    "fields": self.encode(fields, path)}
        if not hasattr(value, "__dict__"):
            raise TypeError(f"cannot save {path}: {cls.__qualname__} has no __dict__")
        return {"kind": "object", "class": class_path(cls),
                "state": self.attributes(value, vars(value), f"{path}.")}

    def attributes(self, owner: Any, items: dict, prefix: str) -> dict:
        """Encode attributes of ``owner``; a network is written only where a builder can rebuild it."""
        rebuildable = class_path(type(owner)) in MODULE_BUILDERS
        return {
            k: self.module(v, f"{prefix}{k}") if rebuildable and isinstance(v, torch.nn.Module)
            else self.encode(v, f"{prefix}{k}")
            for k, v in items.items()
        }

    def pandas(self, value: Any, path: str) -> dict:
        if isinstance(value, pd.Categorical):
            return {"kind": "Categorical", "codes": self.array(np.asarray(value.codes), path),
                    "categories": self.pandas(value.categories, f"{path}.categories"),
                    "ordered": bool(value.ordered)}
        if isinstance(value, pd.MultiIndex):
            return {"kind": "MultiIndex", "names": self.encode(list(value.names), path),
                    "levels": [self.pandas(lv, f"{path}.levels") for lv in value.levels],
                    "codes": [self.array(np.asarray(c), path) for c in value.codes]}
        if isinstance(value, pd.IntervalIndex):
            return {"kind": "IntervalIndex", "left": self.pandas(value.left, path),
                    "right": self.pandas(value.right, path), "closed": value.closed,
                    "name": self.encode(value.name, path)}
        if isinstance(value, pd.RangeIndex):
            return {"kind": "RangeIndex", "start": value.start, "stop": value.stop, "step": value.step,
                    "name": self.encode(value.name, path)}
        if isinstance(value, pd.Index):
            return {"kind": "Index", "name": self.encode(value.name, path),
                    "values": self.values(value.array, path), "dtype": self.dtype(value.dtype, path)}
        if isinstance(value, pd.Series):
            return {"kind": "Series", "name": self.encode(value.name, path),
                    "index": self.pandas(value.index, f"{path}.index"),
                    "values": self.values(value.array, path), "dtype": self.dtype(value.dtype, path)}
        columns = [
            {"values": self.values(value.iloc[:, j].array, f"{path}[{j}]"),
             "dtype": self.dtype(value.dtypes.iloc[j], path)}
            for j in range(value.shape[1])
        ]
        return {"kind": "DataFrame", "index": self.pandas(value.index, f"{path}.index"),
                "columns": self.pandas(value.columns, f"{path}.columns"), "data": columns,
                "attrs": self.encode(dict(value.attrs), f"{path}.attrs")}

    def values(self, array: Any, path: str) -> dict:
        if isinstance(array, pd.Categorical):
            return self.pandas(array, path)
        return self.array(np.asarray(array), path)

    def dtype(self, dtype: Any, path: str) -> dict:
        if isinstance(dtype, pd.CategoricalDtype):
            return {"kind": "CategoricalDtype", "ordered": bool(dtype.ordered),
                    "categories": None if dtype.categories is None else self.pandas(dtype.categories, path)}
        return {"kind": "dtype", "name": str(dtype)}


class _Reader:
    """Decode what :class:`_Writer` wrote."""

    def __init__(self, arrays: dict[str, np.ndarray], weights: dict[str, torch.Tensor], source: Path) -> None:
        self.arrays, self.weights, self.source = arrays, weights, source

    def array(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise OSError(f"{self.source / ARRAYS_FILE} is damaged: array {key!r} is missing")
        return self.arrays[key]

    def decode(self, value: Any) -> Any:  # noqa: C901 - one branch per kind
        if not isinstance(value, dict):
            return value
        kind = value.get("kind")
        if kind == "float":
            return float(value["repr"])
        if kind == "ndarray":
            return self.array(value["key"]).reshape(value["shape"]).copy()
        if kind == "ndarray_items":
            items = [self.decode(v) for v in value["items"]]
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.astype(np.dtype(value["dtype"])).reshape(value["shape"])
        if kind == "ndarray_time":
            return self.decode(value["values"]).view(np.dtype(value["dtype"]))
        if kind == "npscalar":
            return self.decode(value["value"])[()]
        if kind == "tensor":
            if value["key"] not in self.weights:
                raise OSError(f"{self.source / WEIGHTS_FILE} is damaged: tensor {value['key']!r} is missing")
            return self.weights[value["key"]].clone()
        if kind in ("list", "tuple", "set", "frozenset"):
            items = [self.decode(v) for v in value["items"]]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
        if kind == "dict":
            return {self.decode(k): self.decode(v) for k, v in value["items"]}
        if kind in ("NA", "NaT"):
            return pd.NA if kind == "NA" else pd.NaT
        if kind == "path":
            return Path(value["value"])
        if kind == "device":
            return torch.device(value["value"])
        if kind == "ref":
            return resolve(value["path"])
        if kind == "object":
            return self.instance(value)
        if kind == "namedtuple":
            return resolve(value["class"])(**self.decode(value["fields"]))
        if kind == "module":
            return _PendingModule(value["prefix"])
        if kind in ("dtype", "CategoricalDtype"):
            return self.dtype(value)
        return self.pandas(value, kind)

    def instance(self, value: dict) -> Any:
        state = {k: self.decode(v) for k, v in value["state"].items()}
        upgrade = STATE_UPGRADES.get(CLASS_ALIASES.get(value["class"], value["class"]))
        return self.restore(resolve(value["class"]), upgrade(state) if upgrade else state)

    def restore(self, cls: type, state: dict) -> Any:
        """``cls.__new__`` plus ``state``; networks rebuilt once the rest of the state is set."""
        if not isinstance(cls, type):
            raise TypeError(f"refusing to load {cls!r}: not a class")
        obj = cls.__new__(cls)
        obj.__dict__.update({**_parameter_defaults(cls), **state})
        for name, value in state.items():
            if isinstance(value, _PendingModule):
                setattr(obj, name, self.module(obj, value.prefix))
        return obj

    def module(self, owner: Any, prefix: str) -> torch.nn.Module:
        name = class_path(type(owner))
        if name not in MODULE_BUILDERS:
            raise TypeError(f"cannot load {prefix}: no network builder is registered for {name}")
        state = {k[len(prefix) + 1:]: v for k, v in self.weights.items() if k.startswith(f"{prefix}.")}
        module = MODULE_BUILDERS[name](owner, state)
        _install_buffers(module, state)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise OSError(f"{self.source / WEIGHTS_FILE} does not match the network of {prefix}: {error}") from None
        return module.eval()

    def dtype(self, value: dict) -> Any:
        if value["kind"] == "CategoricalDtype":
            categories = value["categories"]
            return pd.CategoricalDtype(
                None if categories is None else self.decode(categories), ordered=value["ordered"]
            )
        return pd.api.types.pandas_dtype(value["name"])

    def pandas(self, value: dict, kind: str) -> Any:
        if kind == "Categorical":
            categories = self.decode(value["categories"])
            return pd.Categorical.from_codes(self.decode(value["codes"]), categories=categories,
                                             ordered=value["ordered"])
        if kind == "MultiIndex":
            return pd.MultiIndex(levels=[self.decode(lv) for lv in value["levels"]],
                                 codes=[self.decode(c) for c in value["codes"]],
                                 names=self.decode(value["names"]))
        if kind == "IntervalIndex":
            return pd.IntervalIndex.from_arrays(self.decode(value["left"]), self.decode(value["right"]),
                                                closed=value["closed"], name=self.decode(value["name"]))
        if kind == "RangeIndex":
            return pd.RangeIndex(value["start"], value["stop"], value["step"], name=self.decode(value["name"]))
        if kind == "Index":
            return pd.Index(self.values(value), name=self.decode(value["name"]), tupleize_cols=False)
        if kind == "Series":
            return pd.Series(self.values(value), index=self.decode(value["index"]),
                             name=self.decode(value["name"]), copy=False)
        if kind == "DataFrame":
            columns = self.decode(value["columns"])
            data = {j: pd.Series(self.values(c), copy=False) for j, c in enumerate(value["data"])}
            frame = pd.DataFrame(data, columns=range(len(columns)))
            frame.index = self.decode(value["index"])
            frame.columns = columns
            frame.attrs.update(self.decode(value["attrs"]))
            return frame
        raise OSError(f"{self.source / CONFIG_FILE} is damaged: unknown record kind {kind!r}")

    def values(self, record: dict) -> Any:
        values = self.decode(record["values"])
        dtype = self.dtype(record["dtype"])
        if isinstance(values, pd.Categorical):
            return values
        if isinstance(dtype, np.dtype):
            return values.astype(dtype, copy=False)
        return pd.array(values, dtype=dtype)


class _PendingModule:
    """A network still to rebuild once its owner's fitted state is restored."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


def _install_buffers(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Give buffers whose size is set by fitting (or that are None until fit) their saved tensors."""
    for key, tensor in state.items():
        owner_name, _, leaf = key.rpartition(".")
        try:
            owner = module.get_submodule(owner_name) if owner_name else module
        except AttributeError:
            continue
        if leaf in owner._buffers:
            owner._buffers[leaf] = tensor


def resolve(path: str) -> Any:
    """The class or function ``"module:qualname"`` of this package (after :data:`CLASS_ALIASES`
    and :data:`MODULE_ALIASES`)."""
    module_name, _, qualname = CLASS_ALIASES.get(path, path).partition(":")
    module_name = MODULE_ALIASES.get(module_name, module_name)
    if not (module_name == _PACKAGE or module_name.startswith(f"{_PACKAGE}.")):
        raise TypeError(f"refusing to load {path!r}: only classes of {_PACKAGE} are loaded")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise TypeError(f"unknown class {path!r} in the saved model (renamed or removed?)") from None
    if not str(getattr(obj, "__module__", "")).startswith(_PACKAGE):
        raise TypeError(f"refusing to load {path!r}: it is not defined in {_PACKAGE}")
    return obj


def save(model: Any, path: str | os.PathLike) -> Path:
    """Save a fitted (or unfitted) estimator to the directory ``path``.

    Parameters
    ----------
    model : estimator of structunstruct
    path : str or path-like
        A directory, created if missing; files of an earlier save there are replaced.

    Returns
    -------
    pathlib.Path
        The directory.
    """
    from . import __version__

    writer = _Writer()
    cls = type(model)
    params = model.get_params(deep=False)
    config = {
        "format_version": FORMAT_VERSION,
        "package": _PACKAGE,
        "package_version": __version__,
        "class": class_path(cls),
        "params": {k: writer.encode(v, k) for k, v in params.items()},
        "state": writer.attributes(model, {k: v for k, v in vars(model).items() if k not in params}, ""),
    }
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=1)
    save_arrays(writer.arrays, str(directory / ARRAYS_FILE))
    save_weights(writer.weights, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    return directory


def load(path: str | os.PathLike, device: str | None = None) -> Any:
    """Load an estimator written by ``save``; networks end up on the CPU.

    Parameters
    ----------
    path : str or path-like
        The directory written by ``model.save(path)``.
    device : str, optional
        Replaces the ``device`` parameter of the model and of the estimators inside it
        (``"cpu"`` for a model trained with ``device="cuda"`` on a machine without a GPU).
        Default: the saved parameter (``"auto"`` predicts on the CPU when there is no GPU).

    Returns
    -------
    estimator
        Of the saved class, with its parameters and fitted state.

    Raises
    ------
    OSError
        The directory or one of its files is missing or damaged.
    ValueError
        The files were written by a newer format version.
    TypeError
        The files name a class that is not (or no longer) in structunstruct.
    """
    directory = Path(path)
    config = _read_config(directory)
    arrays = _read_tensors(load_arrays, directory / ARRAYS_FILE)
    weights = _read_tensors(lambda f: load_weights(f, device="cpu"), directory / WEIGHTS_FILE)
    reader = _Reader(arrays, weights, directory)
    try:
        cls = resolve(config["class"])
        params = {k: reader.decode(v) for k, v in config["params"].items()}
        state = {k: reader.decode(v) for k, v in config["state"].items()}
        upgrade = STATE_UPGRADES.get(CLASS_ALIASES.get(config["class"], config["class"]))
        state = upgrade(state) if upgrade else state
    except (KeyError, ValueError, IndexError) as error:
        raise OSError(f"{directory / CONFIG_FILE} is damaged: {error!r}") from None
    model = reader.restore(cls, {**params, **state})
    if device is not None:
        _set_device(model, device)
    return model


def _set_device(value: Any, device: str) -> None:
    """Set ``device`` on every estimator reachable from ``value`` (members, late fusion)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _set_device(item, device)
    elif isinstance(value, PersistenceMixin):
        if "device" in value.get_params(deep=False):
            value.set_params(device=device)
        for item in vars(value).values():
            if isinstance(item, (list, tuple, PersistenceMixin)):
                _set_device(item, device)


def _read_config(directory: Path) -> dict:
    file = directory / CONFIG_FILE
    if not file.is_file():
        raise OSError(f"{file} not found: {directory} is not a model saved by structunstruct")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
        version = config["format_version"]
        if config.get("package") != _PACKAGE:
            raise KeyError("package")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise OSError(f"{file} is damaged or not a structunstruct model ({error!r})") from None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{file} was written with format version {version} (package "
            f"{config.get('package_version')}); this version of structunstruct reads format "
            f"versions up to {FORMAT_VERSION}: upgrade structunstruct"
        )
    return config


def _read_tensors(reader: Callable[[str], dict], file: Path) -> dict:
    if not file.is_file():
        raise OSError(f"{file} not found: the saved model is incomplete")
    try:
        return reader(str(file))
    except (SafetensorError, OSError, ValueError) as error:
        raise OSError(f"{file} is damaged: {error}") from None


class PersistenceMixin:
    """The ``save`` method of every estimator (loading: :func:`structunstruct.load`)."""

    def save(self, path: str | os.PathLike) -> Path:
        """Save the estimator to the directory ``path`` (no pickle; see :func:`structunstruct.load`).

        Parameters
        ----------
        path : str or path-like
            A directory holding ``config.json``, ``arrays.safetensors`` and ``weights.safetensors``.

        Returns
        -------
        pathlib.Path
        """
        return save(self, path)


# -- network builders: each estimator's own build step on its restored fitted state --------
def register_module_builder(cls_path: str) -> Callable:
    """Register ``function(owner, state_dict) -> fresh network`` for the class at ``cls_path``
    (as :func:`class_path` writes it)."""

    def decorate(function: Callable) -> Callable:
        MODULE_BUILDERS[cls_path] = function
        return function

    return decorate


def _rebuild_estimator_module(est: Any, state: dict) -> torch.nn.Module:
    """The fitted network of an estimator, rebuilt from its fitted state (saved weights replace it)."""
    return est._rebuild_module()


for _name in ("DeepSurv", "DeepPAMM", "MultiSurv", "SemiStructuredRegressor"):
    MODULE_BUILDERS[f"structunstruct:{_name}"] = _rebuild_estimator_module


@register_module_builder("structunstruct.nn.encoders.frozen:FrozenEncoderFeatures")
def _build_frozen_encoder(features: Any, state: dict) -> torch.nn.Module:
    """The frozen encoder of early fusion; its input channels from the first 4-d (conv) weight."""
    from .nn import create_image_encoder

    convolutions = [v for v in state.values() if v.ndim == 4]
    if not convolutions:
        raise OSError("the saved frozen image encoder has no convolution weight to size its input")
    module = create_image_encoder(features.encoder, int(convolutions[0].shape[1]), False).eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


__all__ = [
    "CLASS_ALIASES",
    "FORMAT_VERSION",
    "MODULE_BUILDERS",
    "PersistenceMixin",
    "class_path",
    "load",
    "register_module_builder",
    "save",
]


def _register_state_upgrades() -> None:
    """Older layouts of fitted classes that loading converts (see :data:`STATE_UPGRADES`)."""
    from .data.design import upgrade_encoding_state, upgrade_term_state

    STATE_UPGRADES["structunstruct.data.formula:Term"] = upgrade_term_state
    STATE_UPGRADES["structunstruct.data.design:_TermEncoding"] = upgrade_encoding_state


_register_state_upgrades()
