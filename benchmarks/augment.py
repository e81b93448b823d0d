"""Batched, on-device augmentations by name, built from kornia.

``dsa`` follows Zhao & Bilen's DSA ranges (brightness +-0.5, saturation x[0,2], contrast x[0.5,1.5],
shift +-12.5%, scale 1/1.2..1.2, rotation +-15 deg, a half-size cutout, flip only where the data
allow it), with per-sample parameters as at evaluation time. Inputs are un-normalised [0, 1] images.
It applies every op in turn; ``dsa_paper`` is DSA as the paper's code evaluates (one op per batch, in normalised
units), and ``crop_scale_rotate`` / ``crop_noise`` are DC's augmentation (``benchmarks.augment_paper``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import kornia.augmentation as K
import torch
from torch import Tensor, nn

from benchmarks.augment_paper import InNormalisedSpace, dc_one_per_image, dsa_one_per_batch
from benchmarks.registry import Registry


@dataclass(frozen=True)
class AugContext:
    """What an augmentation may depend on: channels, whether a horizontal flip keeps labels, the normalisation."""

    channels: int
    hflip: bool
    mean: tuple[float, ...] | None = None  # None: the identity normalisation (mean 0, std 1)
    std: tuple[float, ...] | None = None

    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) per channel."""
        return (self.mean or (0.0,) * self.channels), (self.std or (1.0,) * self.channels)


@dataclass(frozen=True)
class AugEntry:
    build: Callable[[AugContext], nn.Module]
    description: str


AUGMENTATIONS: Registry[AugEntry] = Registry("augmentation")


def _none(ctx: AugContext) -> nn.Module:
    return nn.Identity()


def _dsa(ctx: AugContext) -> nn.Module:
    ops: list[nn.Module] = [
        K.ColorJiggle(brightness=0.5, contrast=0.5, saturation=1.0 if ctx.channels == 3 else 0.0, p=1.0),
        K.RandomAffine(degrees=15.0, translate=(0.125, 0.125), scale=(1 / 1.2, 1.2, 1 / 1.2, 1.2), p=1.0),
        K.RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0.0, p=1.0),
    ]
    if ctx.hflip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    return nn.Sequential(*ops)


def _crop_flip(ctx: AugContext) -> nn.Module:
    ops: list[nn.Module] = [K.RandomAffine(degrees=0.0, translate=(0.125, 0.125), p=1.0)]
    if ctx.hflip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    return nn.Sequential(*ops)


AUGMENTATIONS.register("none", AugEntry(_none, "no augmentation"))
AUGMENTATIONS.register("dsa", AugEntry(_dsa, "DSA ops: colour, shift/scale/rotate, cutout, flip where allowed"))
AUGMENTATIONS.register("crop_flip", AugEntry(_crop_flip, "random shift by up to 12.5%, flip where allowed"))


def _dsa_paper(ctx: AugContext) -> nn.Module:
    # DSA's strategy color_crop_cutout_flip_scale_rotate; flip dropped where it changes labels (MNIST, SVHN)
    ops = ("color", "crop", "cutout", *(("flip",) if ctx.hflip else ()), "scale", "rotate")
    return InNormalisedSpace(dsa_one_per_batch(ops), *ctx.stats(), clip=False)


def _dc_aug(ops: tuple[str, ...]) -> Callable[[AugContext], nn.Module]:
    return lambda ctx: InNormalisedSpace(dc_one_per_image(ops), *ctx.stats(), clip=True)


AUGMENTATIONS.register("dsa_paper", AugEntry(_dsa_paper, "DSA as its code evaluates: one op per batch (colour, "
                                                         "shift, cutout, flip where allowed, scale, rotate), unclipped"))
AUGMENTATIONS.register("crop_scale_rotate", AugEntry(_dc_aug(("crop", "scale", "rotate")),
                                                     "DC-aug (MNIST): one of shift 4 px / scale 0.2 / rotate 45 per image"))
AUGMENTATIONS.register("crop_noise", AugEntry(_dc_aug(("crop", "noise")),
                                              "DC-aug (ConvNetBN): one of shift 4 px / noise 0.001 per image"))


def build_augmentation(name: str, channels: int, hflip: bool, mean: tuple[float, ...] | None = None,
                       std: tuple[float, ...] | None = None) -> nn.Module:
    """The named augmentation for images of ``channels`` channels normalised with ``mean`` / ``std``."""
    return AUGMENTATIONS.get(name).build(AugContext(channels, hflip, mean, std))


_UNBATCHED_PARAMS = ("order", "forward_input_shape")


def siamese(aug: nn.Module, *batches: Tensor) -> list[Tensor]:
    """Apply ONE random draw of ``aug`` (a sequence of kornia ops, or Identity) to every image of every
    batch: DSA's siamese augmentation, so real and synthetic batches are compared under the same
    transform and the augmentation stays differentiable with respect to the synthetic images."""
    if isinstance(aug, nn.Identity):
        return list(batches)
    x = torch.cat(batches)
    for op in aug:
        p = op.forward_parameters(torch.Size((1, *x.shape[1:])))
        p = {k: (v if k in _UNBATCHED_PARAMS or not torch.is_tensor(v) else v.expand(len(x), *v.shape[1:]).clone())
             for k, v in p.items()}
        p["forward_input_shape"] = torch.tensor(x.shape)
        x = op(x, params=p)
    return list(x.split([len(b) for b in batches]))
