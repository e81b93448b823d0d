"""Build any timm model (or one of our small nets) for a dataset's channels, classes and size.

timm's ImageNet models shrink a 224 px input 32 times; at 16-32 px that leaves nothing to learn
from, so ``adapt`` gives known families a small stem (stride 1, no max-pool) and records what it
changed. ``ZOO`` lists the architectures that are tested to train at these sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import timm
from torch import nn

import benchmarks.nets  # noqa: F401  (registers the small nets into timm)
from benchmarks.errors import UserError, suggest
from benchmarks.registry import Registry


@dataclass(frozen=True)
class ModelEntry:
    """A zoo architecture: the timm name and the keyword arguments it is built with."""

    timm_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


ZOO: Registry[ModelEntry] = Registry("model")
for _n in benchmarks.nets.SMALL_NETS:
    ZOO.register(_n, ModelEntry(_n, description=f"ConvNet {benchmarks.nets.SMALL_NETS[_n]}"))
ZOO.register("lenet", ModelEntry("lenet", description="LeNet-5 (Bohdal et al.'s learner)"))
ZOO.register("alexnet_cifar", ModelEntry("alexnet_cifar", description="AlexCifarNet (Wang et al. DD)"))
ZOO.register("vgg11_dc", ModelEntry("vgg11_dc", description="VGG-11 as DatasetCondensation builds it (instance norm)"))
ZOO.register("regnetx_002", ModelEntry("regnetx_002", description="timm RegNetX-200MF, stride-1 stem"))
ZOO.register("convnext_atto", ModelEntry("convnext_atto", description="timm ConvNeXt-Atto, stride-1 patch stem"))
ZOO.register("resnet10t", ModelEntry("resnet10t", description="timm ResNet-10-T, small stem"))
ZOO.register("resnet18", ModelEntry("resnet18", description="timm ResNet-18, small stem"))
ZOO.register("mobilenetv3_small_050", ModelEntry("mobilenetv3_small_050", description="timm MobileNetV3-S 0.5, stride-1 stem"))
ZOO.register("efficientnet_b0", ModelEntry("efficientnet_b0", description="timm EfficientNet-B0, stride-1 stem"))
ZOO.register("vit_tiny", ModelEntry("vit_tiny_patch16_224", {"patch_size": 4}, "timm ViT-Tiny, patch 4 at the data size"))
ZOO.register("test_resnet", ModelEntry("test_resnet", description="timm's tiny CI ResNet, small stem"))
ZOO.register("test_vit", ModelEntry("test_vit", {"patch_size": 4}, "timm's tiny CI ViT, patch 4"))


def _stride_one(conv: nn.Conv2d) -> None:
    conv.stride = (1, 1)


def _first_conv(module: nn.Module) -> nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def _adapt_resnet(model: nn.Module) -> str:
    _stride_one(_first_conv(model.conv1))
    model.maxpool = nn.Identity()
    return "stem stride 1, max-pool removed"


def _adapt_conv_stem(model: nn.Module) -> str:
    _stride_one(model.conv_stem)
    return "conv_stem stride 1"


def _adapt_stem(model: nn.Module) -> str:
    """RegNet's 3x3 stride-2 stem conv and ConvNeXt's 4x4 stride-4 patchify stem at stride 1 (ConvNeXt: no
    padding, so 28 px gives a 25 px map), so small inputs survive the four downsampling stages."""
    _stride_one(_first_conv(model.stem))
    return "stem stride 1"


# Class name -> adapter; the key is the timm model class, so every variant of a family is covered.
ADAPTERS: dict[str, Callable[[nn.Module], str]] = {
    "ResNet": _adapt_resnet,
    "MobileNetV3": _adapt_conv_stem,
    "EfficientNet": _adapt_conv_stem,
    "RegNet": _adapt_stem,
    "ConvNeXt": _adapt_stem,
}
# timm model modules whose models take the input size as an argument (patch models).
_SIZED_MODULES = ["vision_transformer", "deit", "cait", "swin_transformer", "mlp_mixer"]


def build_model(name: str, num_classes: int, in_chans: int, img_size: int, **overrides: Any) -> tuple[nn.Module, str]:
    """Create a freshly initialised model; returns it with a note of any adaptation made."""
    entry = ZOO.get(name) if name in ZOO else None
    timm_name = entry.timm_name if entry else name
    if not entry and not timm.is_model(timm_name):
        raise UserError(
            f"unknown model {name!r}{suggest(name, ZOO.names() + timm.list_models())}; see `ddbench list models`"
        )
    kwargs = {**(entry.kwargs if entry else {}), **overrides}
    sized = timm.models.is_model_in_modules(timm_name, _SIZED_MODULES)
    if sized or timm.models.is_model_in_modules(timm_name, ["benchmarks.nets", "nets"]):
        kwargs.setdefault("img_size", img_size)
    model = timm.create_model(timm_name, num_classes=num_classes, in_chans=in_chans, **kwargs)
    note = "none"
    adapter = ADAPTERS.get(type(model).__name__)
    if adapter and img_size <= 64:
        note = adapter(model)
    elif sized:
        note = f"img_size={img_size}, patch_size={kwargs.get('patch_size', 16)}"
    return model, note
