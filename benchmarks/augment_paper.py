"""The papers' own evaluation augmentations, as their code runs them (DatasetCondensation ``utils.py``).

Both work where the papers' code does, on normalised images: ddbench's [0, 1] images are normalised with the
dataset's statistics first (so zero padding is the dataset mean, as there) and mapped back afterwards.

- ``DSAOnePerBatch``: ``DiffAugment`` with ``aug_mode='S'`` at evaluation: ONE op drawn per batch from
  color/crop/cutout/flip/scale/rotate, its parameters drawn per image (brightness +-0.5, saturation x[0, 2],
  contrast x[0.5, 1.5], integer shift +-12.5%, a half-size cutout, flip p 0.5, per-axis scale 1/1.2..1.2,
  rotation +-15 deg). Like the paper's, it does not clip.
- ``DCAugment``: ``augment(images, dc_aug_param)``: ONE op per image from the strategy (MNIST:
  crop_scale_rotate): an integer shift of up to 4 px padded with the batch mean, per-axis scale x[0.8, 1.2],
  rotation by an integer angle in [-45, 45) padded with the batch mean, noise 0.001 (in normalised units).
  The result is clipped to [0, 1] (only the noise could leave it).
"""

from __future__ import annotations

from collections.abc import Callable

import kornia.geometry.transform as KT
import torch
from torch import Tensor, nn

Op = Callable[[Tensor], Tensor]  # normalised images -> augmented, parameters drawn per image


def _uniform(n: int, like: Tensor, low: float, high: float) -> Tensor:
    return torch.rand(n, device=like.device, dtype=like.dtype) * (high - low) + low


def _integer_shift(z: Tensor, limit_x: int, limit_y: int, offset: int = 0) -> Tensor:
    """Shift each image by integer pixels drawn in [-limit + offset, limit] (zeros come in)."""
    n = len(z)
    sx = torch.randint(-limit_x + offset, limit_x + 1, (n,), device=z.device)
    sy = torch.randint(-limit_y + offset, limit_y + 1, (n,), device=z.device)
    return KT.translate(z, torch.stack([sx, sy], 1).to(z.dtype), mode="nearest", padding_mode="zeros")


# ---- DSA (ParamDiffAug defaults) -------------------------------------------------------------------------------

def dsa_color(z: Tensor) -> Tensor:
    """Brightness, saturation and contrast together, as DSA's ``color``."""
    n = len(z)
    z = z + (_uniform(n, z, 0.0, 1.0) - 0.5).view(-1, 1, 1, 1)
    m = z.mean(dim=1, keepdim=True)
    z = (z - m) * _uniform(n, z, 0.0, 2.0).view(-1, 1, 1, 1) + m
    m = z.mean(dim=(1, 2, 3), keepdim=True)
    return (z - m) * _uniform(n, z, 0.5, 1.5).view(-1, 1, 1, 1) + m


def dsa_crop(z: Tensor) -> Tensor:
    """Integer shift by up to 12.5% of the size (rounded), zero-padded."""
    h, w = z.shape[-2:]
    return _integer_shift(z, int(w * 0.125 + 0.5), int(h * 0.125 + 0.5))


def dsa_cutout(z: Tensor) -> Tensor:
    """A square of half the size (its centre anywhere in the image) set to zero."""
    n, (h, w) = len(z), z.shape[-2:]
    sh, sw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    cy = torch.randint(0, h + (1 - sh % 2), (n, 1, 1), device=z.device)
    cx = torch.randint(0, w + (1 - sw % 2), (n, 1, 1), device=z.device)
    ys = torch.arange(h, device=z.device).view(1, -1, 1)
    xs = torch.arange(w, device=z.device).view(1, 1, -1)
    inside = ((ys - cy + sh // 2) >= 0) & ((ys - cy + sh // 2) < sh) & ((xs - cx + sw // 2) >= 0) & ((xs - cx + sw // 2) < sw)
    return z * (~inside).unsqueeze(1).to(z.dtype)


def dsa_flip(z: Tensor) -> Tensor:
    """Horizontal flip of each image with probability 0.5."""
    flip = (torch.rand(len(z), device=z.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flip, z.flip(-1), z)


def dsa_scale(z: Tensor) -> Tensor:
    """Per-axis scale: DSA samples the grid at s x the coordinates, s in [1/1.2, 1.2], i.e. zooms by 1/s."""
    n = len(z)
    s = torch.stack([_uniform(n, z, 1 / 1.2, 1.2), _uniform(n, z, 1 / 1.2, 1.2)], 1)
    return KT.scale(z, 1.0 / s, padding_mode="zeros")


def dsa_rotate(z: Tensor) -> Tensor:
    """Rotation by an angle uniform in [-15, 15] degrees, zero-padded."""
    return KT.rotate(z, _uniform(len(z), z, -15.0, 15.0), padding_mode="zeros")


DSA_OPS: dict[str, Op] = {"color": dsa_color, "crop": dsa_crop, "cutout": dsa_cutout, "flip": dsa_flip,
                          "scale": dsa_scale, "rotate": dsa_rotate}


# ---- DC-aug (get_daparam: crop 4, scale 0.2, rotate 45, noise 0.001); ``fill``: the batch's channel means --------

def dc_crop(z: Tensor, fill: Tensor, crop: int = 4) -> Tensor:
    """An integer shift in [-crop + 1, crop] pixels per axis, padded with the batch's per-channel mean."""
    return _integer_shift(z - fill, crop, crop, offset=1) + fill


def dc_scale(z: Tensor, fill: Tensor, scale: float = 0.2) -> Tensor:
    """Per-axis resize by a factor in [1 - scale, 1 + scale] about the centre, zero (the dataset mean) padded."""
    n = len(z)
    f = torch.stack([_uniform(n, z, 1 - scale, 1 + scale), _uniform(n, z, 1 - scale, 1 + scale)], 1)
    return KT.scale(z, f, padding_mode="zeros")


def dc_rotate(z: Tensor, fill: Tensor, rotate: int = 45) -> Tensor:
    """Rotation by an integer angle in [-rotate, rotate) degrees, padded with the mean of the batch's channel means."""
    angle = torch.randint(-rotate, rotate, (len(z),), device=z.device).to(z.dtype)
    m = fill.mean()
    return KT.rotate(z - m, angle, padding_mode="zeros") + m


def dc_noise(z: Tensor, fill: Tensor, noise: float = 0.001) -> Tensor:
    """Gaussian noise of std ``noise``."""
    return z + noise * torch.randn_like(z)


DC_OPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"crop": dc_crop, "scale": dc_scale, "rotate": dc_rotate,
                                                         "noise": dc_noise}


def dsa_one_per_batch(ops: tuple[str, ...]) -> Op:
    """DSA at evaluation (``aug_mode='S'``): one op drawn for the whole batch, its parameters per image."""
    chosen = tuple(DSA_OPS[o] for o in ops)

    def run(z: Tensor) -> Tensor:
        return chosen[int(torch.randint(len(chosen), (1,)))](z)

    return run


def dc_one_per_image(ops: tuple[str, ...]) -> Op:
    """DC-aug: one op drawn per image from the strategy's ops."""
    chosen = tuple(DC_OPS[o] for o in ops)

    def run(z: Tensor) -> Tensor:
        fill = z.mean(dim=(0, 2, 3), keepdim=True)
        choice = torch.randint(len(chosen), (len(z),), device=z.device)
        out = z.clone()
        for k, op in enumerate(chosen):
            idx = (choice == k).nonzero().squeeze(1)
            if len(idx):
                out[idx] = op(z[idx], fill)
        return out

    return run


class InNormalisedSpace(nn.Module):
    """Applies ``op`` to (x - mean) / std and maps the result back to pixel units, clipped to [0, 1] if asked."""

    def __init__(self, op: Op, mean: tuple[float, ...], std: tuple[float, ...], clip: bool) -> None:
        super().__init__()
        self.op, self.clip = op, clip
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        mean, std = self.mean.to(x.dtype), self.std.to(x.dtype)
        out = self.op((x - mean) / std) * std + mean
        return out.clamp(0.0, 1.0) if self.clip else out
