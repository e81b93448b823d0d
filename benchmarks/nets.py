"""The field's standard small networks, registered into timm's own model registry.

ConvNet (Zhao et al.'s ConvNet-3 and its width / depth / norm variants), LeNet and the
AlexCifarNet of Wang et al. / Bohdal et al. Each exposes timm's ``forward_features`` /
``forward_head(pre_logits=...)`` so features and logits are read the same way for every model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from benchmarks.max_pool import MaxPool2x2
from benchmarks.policy import EXPLICIT_PAD_DEVICES, MATMUL_STEM_DEVICES, RESHAPE_POOL_DEVICES

_NORMS = {
    "instance": lambda c: nn.GroupNorm(c, c, affine=True),  # the field's "instancenorm"
    "batch": nn.BatchNorm2d,
    "layer": lambda c: nn.GroupNorm(1, c, affine=True),
    "none": lambda c: nn.Identity(),
}


class AvgPool2x2(nn.Module):
    """``nn.AvgPool2d(2)`` computed as the mean of four strided views: the same function (odd sizes
    drop their last row / column, as AvgPool2d does), 1.5x faster to train on CPU in bf16
    (measured, see reports/bench/). Inside a compiled graph on a device in ``RESHAPE_POOL_DEVICES`` it is
    a sum over 2 x 2 blocks of a reshaped view instead: the same function, whose backward inductor writes
    as a broadcast rather than four masked scatters (``benchmarks.policy``)."""

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        x = x[..., :h, :w]
        if x.device.type in RESHAPE_POOL_DEVICES and torch.compiler.is_compiling():
            return x.reshape(*x.shape[:-2], h // 2, 2, w // 2, 2).sum((-3, -1)) * 0.25
        return (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) * 0.25


class StemConv2d(nn.Conv2d):
    """nn.Conv2d that, where ``matmul_stem`` holds, computes the same function as one matmul over unfolded patches
    (output channels-last): oneDNN's weight gradient for a one-channel input is slow in compiled bf16 CPU graphs
    (``benchmarks.policy.MATMUL_STEM_DEVICES``); and where ``explicit_padding`` holds (eager bf16, zero padding wider
    than the kernel's "same" padding) pads first and convolves unpadded, which oneDNN has a bf16 kernel for
    (``benchmarks.policy.EXPLICIT_PAD_DEVICES``). Same parameters, initialisation and state dict."""

    def explicit_padding(self, x: Tensor) -> bool:
        dev = x.device.type
        return (dev in EXPLICIT_PAD_DEVICES and not torch.compiler.is_compiling() and self.padding_mode == "zeros"
                and not isinstance(self.padding, str) and torch.is_autocast_enabled(dev)
                and torch.get_autocast_dtype(dev) == torch.bfloat16
                and any(p > d * (k - 1) // 2 for p, k, d in zip(self.padding, self.kernel_size, self.dilation,
                                                                strict=True)))

    def matmul_stem(self, x: Tensor) -> bool:
        dev = x.device.type
        return (self.in_channels == 1 and self.groups == 1 and self.padding_mode == "zeros"
                and not isinstance(self.padding, str) and dev in MATMUL_STEM_DEVICES
                and torch.compiler.is_compiling() and torch.is_autocast_enabled(dev)
                and torch.get_autocast_dtype(dev) == torch.bfloat16)

    def forward(self, x: Tensor) -> Tensor:
        if self.explicit_padding(x):
            (ph, pw) = self.padding
            return F.conv2d(F.pad(x, (pw, pw, ph, ph)), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        if not self.matmul_stem(x):
            return super().forward(x)
        n, _, h, w = x.shape
        (kh, kw), (ph, pw), (sh, sw), (dh, dw) = self.kernel_size, self.padding, self.stride, self.dilation
        oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride).transpose(1, 2)  # n, L, k*k
        flat = cols.reshape(n * oh * ow, -1)
        weight = self.weight.flatten(1).t()
        out = flat @ weight if self.bias is None else torch.addmm(self.bias, flat, weight)
        return out.view(n, oh, ow, self.out_channels).permute(0, 3, 1, 2)


class _TimmLike(nn.Module):
    """Shared timm-style head API over ``self.features`` and ``self.head``."""

    features: nn.Module
    head: nn.Module
    num_features: int
    num_classes: int

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.pre_logits(torch.flatten(x, 1))
        return x if pre_logits else self.head(x)

    def pre_logits(self, x: Tensor) -> Tensor:
        return x

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, *args: Any) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class ConvNet(_TimmLike):
    """depth x [conv3x3(width), norm, ReLU, avgpool 2] then a linear head (28 px: first pad 3)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 32, width: int = 128,
                 depth: int = 3, norm: str = "instance", **_: Any) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, s = in_chans, img_size
        for d in range(depth):
            pad = 3 if (d == 0 and img_size == 28) else 1
            conv = StemConv2d if d == 0 else nn.Conv2d
            layers += [conv(c, width, 3, padding=pad), _NORMS[norm](width), nn.ReLU(inplace=True), AvgPool2x2()]
            s = (s + 2 * pad - 2) // 2
            c = width
        if s < 1:
            raise ValueError(f"ConvNet depth {depth} needs inputs larger than {img_size}px")
        self.features = nn.Sequential(*layers)
        self.num_features = width * s * s
        self.reset_classifier(num_classes)


class LeNet(_TimmLike):
    """LeNet-5 as used by Bohdal et al.: conv6-5, pool, conv16-5, pool, fc120, fc84, fc classes. Each ReLU
    follows its max-pool: max and ReLU commute exactly (values and gradients), and the ReLU then touches a
    quarter of the activations (LeNet's two ReLUs took ~12 % of a training step at 28x28)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 28, **_: Any) -> None:
        super().__init__()
        s = ((img_size // 2) - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5, padding=2), MaxPool2x2(), nn.ReLU(inplace=True),
            nn.Conv2d(6, 16, 5), MaxPool2x2(), nn.ReLU(inplace=True),
        )
        self.fc = nn.Sequential(nn.Linear(16 * s * s, 120), nn.ReLU(inplace=True), nn.Linear(120, 84), nn.ReLU(inplace=True))
        self.num_features = 84
        self.reset_classifier(num_classes)

    def pre_logits(self, x: Tensor) -> Tensor:
        return self.fc(x)


class AlexCifarNet(_TimmLike):
    """Wang et al.'s AlexCifarNet: two conv-64 blocks with LRN, then fc 384 -> 192 -> classes."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, img_size: int = 32, **_: Any) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, padding=1),
            nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1),
            nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1), nn.MaxPool2d(3, 2, padding=1),
        )
        s = ((img_size + 1) // 2 + 1) // 2
        self.fc = nn.Sequential(nn.Linear(64 * s * s, 384), nn.ReLU(inplace=True), nn.Linear(384, 192), nn.ReLU(inplace=True))
        self.num_features = 192
        self.reset_classifier(num_classes)

    def pre_logits(self, x: Tensor) -> Tensor:
        return self.fc(x)


class VGG11(_TimmLike):
    """The field's VGG-11 (DatasetCondensation's layout): eight conv3x3 + norm + ReLU in five max-pooled blocks,
    then a linear head. At 28 px the first conv pads 3 (to 32, as DC does for MNIST, so the head sees 512 x 1 x 1);
    on smaller inputs (16 px) an inner pool that would leave the next convs a 1x1 map is skipped, since instance
    norm over one pixel outputs a constant."""

    LAYOUT = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 32, norm: str = "instance",
                 **_: Any) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, s = in_chans, img_size
        for i, v in enumerate(self.LAYOUT):
            if v == "M":
                if s >= 4 or (i == len(self.LAYOUT) - 1 and s >= 2):  # convs after it keep at least 2x2
                    layers.append(MaxPool2x2())
                    s //= 2
                continue
            pad = 3 if (c == in_chans and img_size == 28) else 1
            layers += [nn.Conv2d(c, int(v), 3, padding=pad), _NORMS[norm](int(v)), nn.ReLU(inplace=True)]
            c, s = int(v), s + 2 * pad - 2
        self.features = nn.Sequential(*layers)
        self.num_features = c * s * s
        self.reset_classifier(num_classes)


_TIMM_ONLY = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _register(name: str, cls: type[nn.Module], **defaults: Any) -> None:
    """Register ``name`` in timm's registry as a plain factory building ``cls(**defaults, **kw)``."""

    def factory(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        if pretrained:
            raise ValueError(f"{name} has no pretrained weights")
        kw = {k: v for k, v in kwargs.items() if k not in _TIMM_ONLY}
        return cls(**{**defaults, **kw})

    factory.__name__ = name
    factory.__qualname__ = name
    factory.__module__ = __name__
    factory.__doc__ = f"{cls.__name__} with {defaults or 'defaults'}"
    register_model(factory)


SMALL_NETS: dict[str, dict[str, Any]] = {
    "convnet3": {"depth": 3, "width": 128},
    "convnet3_w32": {"depth": 3, "width": 32},
    "convnet3_w64": {"depth": 3, "width": 64},
    "convnet3_w256": {"depth": 3, "width": 256},
    "convnet2": {"depth": 2, "width": 128},
    "convnet4": {"depth": 4, "width": 128},
    "convnet3_bn": {"depth": 3, "width": 128, "norm": "batch"},
    "convnet3_ln": {"depth": 3, "width": 128, "norm": "layer"},
    "convnet3_nonorm": {"depth": 3, "width": 128, "norm": "none"},
}

for _name, _cfg in SMALL_NETS.items():
    _register(_name, ConvNet, **_cfg)
_register("lenet", LeNet)
_register("alexnet_cifar", AlexCifarNet)
_register("vgg11_dc", VGG11)
