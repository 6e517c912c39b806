"""Image encoders: any timm backbone, any ``nn.Module``, or a small built-in CNN.

Every encoder exposes ``out_dim`` and maps a batch of shape (n, C, H, W) to
features of shape (n, out_dim), so fusion and heads never care which backbone runs.
Weights are only ever read from a local file: nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoints import load_backbone_weights


class SmallConvNet(nn.Module):
    """A small VGG-style CNN that trains well on small images (e.g. 28x28) on a CPU.

    Three stages of widths ``width``, ``2*width`` and ``4*width``; each stage is
    ``depth`` conv3x3-BN-ReLU layers followed by 2x2 max pooling, then global average
    pooling. With ``depth=2`` each pooled feature sees 34x34 pixels, the whole of a
    28x28 image, so the features can encode the global shape of an object (a 6 and a
    9 differ only by where the loop is), not only local strokes.

    Parameters
    ----------
    in_chans : int
        Input channels.
    width : int
        Channels of the first stage.
    depth : int
        Convolutions per stage.

    Attributes
    ----------
    num_features : int
        Width of the output features (``4 * width``).
    """

    def __init__(self, in_chans: int = 1, width: int = 16, depth: int = 2) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_chans
        for out in (width, 2 * width, 4 * width):
            blocks += _conv_stage(channels, out, depth)
            channels = out
        self.features = nn.Sequential(*blocks)
        self.num_features = 4 * width

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x).mean(dim=(2, 3))


def _conv_stage(in_chans: int, out_chans: int, depth: int) -> list[nn.Module]:
    """``depth`` conv3x3-BN-ReLU layers and a 2x2 max pooling (never below 1 pixel)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(in_chans if i == 0 else out_chans, out_chans, 3, padding=1,
                             bias=False),
                   nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return layers


_BUILTIN: dict[str, Callable[..., nn.Module]] = {"smallcnn": SmallConvNet}


def register_image_encoder(name: str, factory: Callable[..., nn.Module]) -> None:
    """Register a backbone factory ``factory(in_chans=...) -> nn.Module``.

    The module must expose ``num_features`` and return (n, num_features) features.

    Parameters
    ----------
    name : str
        Name for ``image_encoder=``.
    factory : callable
        ``factory(in_chans=...)`` returning the backbone module.
    """
    _BUILTIN[name] = factory


def list_image_encoders() -> list[str]:
    """Built-in encoder names; every timm model name (``timm.list_models()``) works too."""
    return sorted(_BUILTIN)


class ImageEncoder(nn.Module):
    """Wrap a backbone so it maps images to (n, out_dim) features.

    Parameters
    ----------
    backbone : nn.Module
        Returns pooled features of width ``num_features`` (or ``out_dim``).
    augment : nn.Module, optional
        Applied to the images first (augmentation modules are the identity in eval mode).

    Attributes
    ----------
    out_dim : int
    input_keys : tuple of str
    """

    input_keys = ("image",)

    def __init__(self, backbone: nn.Module, augment: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone.to(memory_format=torch.channels_last)
        self.augment = augment
        width = getattr(backbone, "out_dim", None) or getattr(backbone, "num_features", None)
        if width is None:
            raise ValueError(
                "an image encoder module must declare its feature width as `out_dim` or "
                "`num_features`"
            )
        self.out_dim = int(width)

    def forward(self, image: Tensor) -> Tensor:
        if self.augment is not None:
            image = self.augment(image)
        # channels-last runs convolutions several times faster on CPU and on tensor cores
        features = self.backbone(image.contiguous(memory_format=torch.channels_last))
        return features.flatten(1) if features.dim() > 2 else features


def create_image_encoder(
    encoder: str | nn.Module,
    in_chans: int,
    pretrained: bool | str | Path = False,
    augment: nn.Module | None = None,
) -> ImageEncoder:
    """Build an image encoder from a name or a module.

    Parameters
    ----------
    encoder : str or nn.Module
        ``"smallcnn"`` (built-in), any timm model name, or a module.
    in_chans : int
        Channels of the input images (taken from the data).
    pretrained : False or path
        A local checkpoint (timm/PyTorch state dict or safetensors) for timm models.
    augment : nn.Module, optional
        Training-time augmentation, e.g. :class:`~structunstruct.nn.augment.RandomAffine`.

    Returns
    -------
    ImageEncoder
    """
    if isinstance(encoder, nn.Module):
        return ImageEncoder(encoder, augment)
    if pretrained is True:
        raise ValueError(
            "pretrained=True would download weights, which is not possible here; pass the "  # offline-ok
            "path of a local checkpoint instead"
        )
    if encoder in _BUILTIN:
        if pretrained:
            raise ValueError(f"the built-in encoder {encoder!r} has no pretrained weights")
        return ImageEncoder(_BUILTIN[encoder](in_chans=in_chans), augment)
    return ImageEncoder(_create_timm_backbone(encoder, in_chans, pretrained), augment)


def _create_timm_backbone(name: str, in_chans: int, pretrained: bool | str | Path) -> nn.Module:
    import timm

    if not timm.is_model(name):
        raise ValueError(
            f"unknown image encoder {name!r}: use one of {list_image_encoders()} or a timm "
            "model name (timm.list_models())"
        )
    backbone = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    if pretrained:
        load_backbone_weights(backbone, pretrained, in_chans)
    return backbone


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "ImageEncoder",
    "SmallConvNet",
    "count_parameters",
    "create_image_encoder",
    "list_image_encoders",
    "register_image_encoder",
]
