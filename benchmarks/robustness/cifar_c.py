"""The CIFAR-10-C family (Hendrycks & Dietterich 2019) for colour datasets, through ``imagecorruptions``.

The PyPI release of ``imagecorruptions`` (1.1.2, 2020) no longer runs with scikit-image >= 0.19 and
NumPy 2 (glass blur, Gaussian blur and fog fail); its maintained fork ``imagecorruptions-imaug``
installs the same module with those fixes. It is an optional extra (it pulls in OpenCV,
scikit-image and numba): ``pip install 'ddbench[robustness-rgb]'``. The package implements the
ImageNet-C parameters scaled to the image size; images must be at least 32 x 32.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from benchmarks.errors import UserError
from benchmarks.registry import Registry
from benchmarks.robustness.base import Corruption, CorruptionFamily, derive_seed

# The benchmark's 15 corruptions, then the package's 4 held-out "validation" ones.
COMMON = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
          "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
MIN_SIZE = 32
INSTALL_HINT = "pip install 'imagecorruptions-imaug==1.1.5' (or the extra: pip install 'ddbench[robustness-rgb]')"


def _library() -> ModuleType:
    """Import the optional package, or say in one line how to install it."""
    try:
        import imagecorruptions
    except ImportError:
        raise UserError(f"corruptions of colour images need the imagecorruptions package: {INSTALL_HINT}") from None
    return imagecorruptions


def _library_fn(name: str) -> Callable[..., np.ndarray]:
    lib = _library()
    if name not in lib.get_corruption_names("all"):
        raise UserError(f"the installed imagecorruptions has no corruption {name!r}: {INSTALL_HINT}")
    return lib.corruption_dict[name]


def corrupt_rgb(name: str) -> Callable[[Tensor, int, int], Tensor]:
    """A batch function for one of the package's corruptions: image by image, each with its own seed."""

    def apply(x: Tensor, severity: int, seed: int) -> Tensor:
        if min(x.shape[-2:]) < MIN_SIZE:
            raise UserError(f"{name} needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got {tuple(x.shape[-2:])}")
        lib = _library()
        takes_seed = "seed" in inspect.signature(_library_fn(name)).parameters  # the rest draw from np.random
        pixels = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        saved = np.random.get_state()
        out = np.empty_like(pixels)
        try:
            for i, image in enumerate(pixels):
                image_seed = derive_seed(seed, i) % 2**32
                np.random.seed(image_seed)
                kwargs = {"seed": image_seed} if takes_seed else {}
                out[i] = lib.corrupt(image, severity=severity, corruption_name=name, **kwargs)
        finally:
            np.random.set_state(saved)
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div(255).to(x.dtype)

    return apply


CORRUPTIONS: Registry[Corruption] = Registry("corruption")
for _name in COMMON + EXTRA:
    CORRUPTIONS.register(_name, Corruption(_name, corrupt_rgb(_name), 5, (1, 2, 3, 4, 5),
                                           f"imagecorruptions' {_name.replace('_', ' ')}"))

FAMILY = CorruptionFamily(
    name="cifar_c",
    corruptions=CORRUPTIONS,
    default_corruptions=COMMON,
    default_epsilons=(2 / 255, 4 / 255, 8 / 255),
    channels=3,
    reference="Hendrycks & Dietterich 2019 (CIFAR-10-C corruptions) via imagecorruptions, severities 1-5",
)
