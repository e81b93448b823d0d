"""MNIST-C (Mu & Gilmer 2019): the 15 corruptions of grey digits, batched in torch with kornia's filters.

Parameters and default severities are those of the paper's generator (google-research/mnist-c,
``corruptions.py``): each function there has a five-level table and the released dataset uses one
fixed level, which is ``default_severities`` here; the four structural corruptions (stripe, dotted
line, zigzag, Canny edges) have a single level. The generator works on a 28 x 28 canvas; images of
another size (digits at 16 x 16) are resampled to 28, corrupted and resampled back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.registry import Registry
from benchmarks.robustness.base import Corruption, CorruptionFamily

CANVAS = 28
CENTRE = (CANVAS - 1) / 2  # the pixel-centre coordinate every affine corruption keeps fixed
PLASMA_SIZE = 256  # the paper draws fog from a 256 x 256 plasma map and keeps its top-left corner
PLASMA_CHUNK = 256  # plasma maps generated at once (256 maps of 256^2 floats: 64 MiB)

# (canvas images [N, 1, 28, 28], one row of the severity table, generator) -> corrupted canvas images
CanvasFn = Callable[[Tensor, Any, torch.Generator], Tensor]


def _gaussian(x: Tensor, sigma: float, vertical_only: bool = False) -> Tensor:
    """scikit-image's ``gaussian`` (truncate 4, nearest-edge padding) through kornia; ``vertical_only``
    blurs along the rows axis alone, as ``multichannel=True`` does to a 2-D image."""
    k = 2 * int(4 * sigma + 0.5) + 1
    size, sigmas = ((k, 1), (sigma, 1.0)) if vertical_only else ((k, k), (sigma, sigma))
    return kornia.filters.gaussian_blur2d(x, size, sigmas, border_type="replicate")


def _signs(n: int, gen: torch.Generator, k: int = 1) -> Tensor:
    """Random +-1 per image (k columns): the paper flips the direction of shear, rotation and translation."""
    return torch.randint(0, 2, (n, k), generator=gen).double() * 2 - 1


def _warp(x: Tensor, linear: Tensor, shift: Tensor | None = None) -> Tensor:
    """Sample output pixel p from input pixel ``linear @ p + t`` (bilinear, zeros outside), where t keeps
    the canvas centre fixed (or is ``shift``): scikit-image's ``warp`` with an inverse map."""
    n = x.shape[0]
    centre = torch.full((n, 2, 1), CENTRE, dtype=torch.float64)
    t = centre - linear @ centre if shift is None else shift.view(n, 2, 1)
    inverse_map = torch.cat([linear, t], dim=2)  # [N, 2, 3]: output -> input, pixel coordinates (x, y)
    forward = kornia.geometry.transform.invert_affine_transform(inverse_map).to(x.dtype)
    return kornia.geometry.transform.warp_affine(x, forward, (x.shape[-2], x.shape[-1]), mode="bilinear",
                                                 padding_mode="zeros", align_corners=True).clamp(0, 1)


def shot_noise(x: Tensor, c: float, gen: torch.Generator) -> Tensor:
    """Poisson photon noise with c photons at full intensity."""
    return (torch.poisson(x.double() * c, generator=gen) / c).clamp(0, 1).float()


def impulse_noise(x: Tensor, amount: float, gen: torch.Generator) -> Tensor:
    """Salt and pepper: a fraction ``amount`` of pixels set to 0 or 1 with equal odds."""
    hit = torch.rand(x.shape, generator=gen) <= amount
    salt = torch.rand(x.shape, generator=gen) <= 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def glass_blur(x: Tensor, c: tuple[float, int, int], gen: torch.Generator) -> Tensor:
    """Blur, quantise to 8 bits, swap each pixel with a random neighbour (probability 1/2), blur again.
    The generator passes ``multichannel=True`` on 2-D images, so its blurs are vertical only: kept."""
    sigma, delta, iterations = c
    q = torch.floor(_gaussian(x, sigma, vertical_only=True) * 255)[:, 0]  # [N, H, W]
    n, h, w = q.shape
    rows = torch.arange(n)
    for _ in range(iterations):
        for i in range(h - delta, delta, -1):
            for j in range(w - delta, delta, -1):
                swap = torch.rand(n, generator=gen) < 0.5
                dx, dy = torch.randint(-delta, delta, (2, n), generator=gen)
                sel = rows[swap]
                i2, j2 = i + dy[swap], j + dx[swap]
                here, there = q[sel, i, j].clone(), q[sel, i2, j2].clone()
                q[sel, i, j] = there
                q[sel, i2, j2] = here
    return _gaussian(q[:, None] / 255, sigma, vertical_only=True).clamp(0, 1)


def motion_blur(x: Tensor, c: tuple[int, float], gen: torch.Generator) -> Tensor:
    """ImageMagick's motion blur: a one-sided Gaussian line kernel (2 radius + 1 taps) at a random
    angle in [-45, 45) degrees, applied by kornia's per-image ``filter2d``."""
    radius, sigma = c
    n = x.shape[0]
    taps = torch.arange(2 * radius + 1, dtype=torch.float64)
    weights = torch.exp(-(taps**2) / (2 * sigma**2))
    weights = weights / weights.sum()
    angle = torch.deg2rad(torch.rand(n, generator=gen, dtype=torch.float64) * 90 - 45)
    ox = torch.ceil(taps[None] * torch.cos(angle)[:, None] - 0.5).long()  # [N, taps]
    oy = torch.ceil(taps[None] * torch.sin(angle)[:, None] - 0.5).long()
    size = 4 * radius + 1
    kernel = torch.zeros(n, size * size, dtype=torch.float64)
    flat = (oy + 2 * radius) * size + (ox + 2 * radius)
    kernel.scatter_add_(1, flat, weights.expand(n, -1).contiguous())
    kernel = kernel.view(n, size, size).to(x.dtype)
    return kornia.filters.filter2d(x, kernel, border_type="replicate").clamp(0, 1)


def shear(x: Tensor, c: float, gen: torch.Generator) -> Tensor:
    """Shear by angle +-c (radians) about the centre: scikit-image's affine [[1, -sin c], [0, cos c]]."""
    s = c * _signs(len(x), gen)[:, 0]
    linear = torch.zeros(len(x), 2, 2, dtype=torch.float64)
    linear[:, 0, 0], linear[:, 0, 1], linear[:, 1, 1] = 1.0, -torch.sin(s), torch.cos(s)
    return _warp(x, linear)


def rotate(x: Tensor, c: float, gen: torch.Generator) -> Tensor:
    """Rotate by +-c radians about the centre."""
    r = c * _signs(len(x), gen)[:, 0]
    cos, sin = torch.cos(r), torch.sin(r)
    linear = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    return _warp(x, linear)


def scale(x: Tensor, c: float, gen: torch.Generator) -> Tensor:
    """Shrink by 1/c about the centre (the input is sampled c times further out)."""
    linear = torch.eye(2, dtype=torch.float64).expand(len(x), 2, 2) * c
    return _warp(x, linear)


def translate(x: Tensor, c: int, gen: torch.Generator) -> Tensor:
    """Shift by c pixels along both axes, each in a random direction."""
    shift = c * _signs(len(x), gen, 2)
    return _warp(x, torch.eye(2, dtype=torch.float64).expand(len(x), 2, 2), shift)


def brightness(x: Tensor, c: float, gen: torch.Generator) -> Tensor:
    """Raise brightness by c (for grey images the paper's HSV value shift is an additive shift)."""
    return kornia.enhance.adjust_brightness(x, c)


def stripe(x: Tensor, c: None, gen: torch.Generator) -> Tensor:
    """Invert the left and right quarters of the image."""
    out = x.clone()
    q = x.shape[-1] // 4
    out[..., :q] = 1 - x[..., :q]
    out[..., -q:] = 1 - x[..., -q:]
    return out


def plasma_fractal(n: int, size: int, decay: float, gen: torch.Generator) -> Tensor:
    """n diamond-square height maps [n, size, size] in [0, 1] (toroidal, size a power of two): the
    square step sets each centre to the corners' mean, the diamond step each edge midpoint to its four
    neighbours' mean, each plus uniform noise whose amplitude shrinks by ``decay`` per level."""
    m = torch.zeros(n, size, size)
    step, wibble = size, 100.0

    def noise(shape: torch.Size) -> Tensor:
        return wibble * (torch.rand(shape, generator=gen) * 2 - 1) * wibble

    while step >= 2:
        half = step // 2
        corners = m[:, ::step, ::step]
        around = corners + corners.roll(-1, 1)
        around = around + around.roll(-1, 2)
        m[:, half::step, half::step] = around / 4 + noise(around.shape)
        centres = m[:, half::step, half::step]
        top = corners + corners.roll(-1, 2) + centres + centres.roll(1, 1)
        m[:, ::step, half::step] = top / 4 + noise(top.shape)
        left = corners + corners.roll(-1, 1) + centres + centres.roll(1, 2)
        m[:, half::step, ::step] = left / 4 + noise(left.shape)
        step, wibble = half, wibble / decay
    lo = m.amin(dim=(1, 2), keepdim=True)
    hi = m.amax(dim=(1, 2), keepdim=True)
    return (m - lo) / (hi - lo)


def fog(x: Tensor, c: tuple[float, float], gen: torch.Generator) -> Tensor:
    """Add a plasma fog layer of strength c[0] (roughness c[1]), rescaled by the image's own maximum."""
    strength, decay = c
    h, w = x.shape[-2:]
    layer = torch.cat([plasma_fractal(min(PLASMA_CHUNK, len(x) - i), PLASMA_SIZE, decay, gen)[:, :h, :w]
                       for i in range(0, len(x), PLASMA_CHUNK)])
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    out = (x + strength * layer[:, None].to(x.dtype)) * peak / (peak + strength)
    return out.clamp(0, 1)


def spatter(x: Tensor, c: tuple[float, float, float, float, float], gen: torch.Generator) -> Tensor:
    """Mud spatter: thresholded, blurred Gaussian noise becomes a mask of grey (63/255) blobs."""
    loc, spread, sigma, threshold, mask_sigma = c
    liquid = _gaussian(torch.randn(x.shape, generator=gen) * spread + loc, sigma)
    mask = _gaussian((liquid > threshold).to(x.dtype), mask_sigma)
    mask = torch.where(mask < 0.8, torch.zeros_like(mask), mask)
    return (x * (1 - mask) + 63 / 255 * mask).clamp(0, 1)


def line_layer(c0: Tensor, r0: Tensor, c1: Tensor, r1: Tensor, size: int = CANVAS) -> Tensor:
    """Anti-aliased lines from (c0, r0) to (c1, r1), one per image [N, size, size]: intensity
    1 + log(1 - d / 2.3) at vertical distance d, limited to columns [floor c0, ceil c1); none if c0 == c1."""
    cols = torch.arange(size, dtype=torch.float64).view(1, 1, size)
    rows = torch.arange(size, dtype=torch.float64).view(1, size, 1)
    c0, r0, c1, r1 = (v.double().view(-1, 1, 1) for v in (c0, r0, c1, r1))
    drawn = c1 != c0
    slope = (r1 - r0) / torch.where(drawn, c1 - c0, torch.ones_like(c1))
    dist = (rows - (slope * (cols - c0) + r0)).abs().clamp(0, 2.3 - 1e-10)
    value = (torch.log(1 - dist / 2.3) + 1).clamp(0, 1)
    inside = (cols >= torch.floor(c0)) & (cols < torch.ceil(c1)) & drawn
    return value * inside


def dotted_line(x: Tensor, c: None, gen: torch.Generator) -> Tensor:
    """A dashed line across the image between random rows of the left and right edges."""
    n = len(x)
    r0, r1 = torch.randint(0, CANVAS - 1, (2, n), generator=gen)
    layer = line_layer(torch.zeros(n), r0, torch.full((n,), CANVAS - 1.0), r1)
    dashes = (torch.arange(CANVAS) // 2) % 2 == 1  # two columns on, two off, starting off
    return (x + (layer * dashes)[:, None].to(x.dtype)).clamp(0, 1)


def _zigzag_points(r0: int, r1: int, arm: float = 2.0, amplitude: float = 2.0,
                   c0: float = 2.0, c1: float = 25.0) -> list[tuple[float, float]]:
    """Corner points (column, row) of a zigzag of arms ``arm`` long and ``amplitude`` high along the
    line from (c0, r0) to (c1, r1), as the paper's generator lays them out."""
    theta = math.atan((r1 - r0) / (c1 - c0))
    length = (c1 - c0) / math.cos(theta)
    points = [(0.0, 0.0)]
    for i in range(int((length - arm) // (2 * arm)) + 1):
        points.append(((2 * i + 1) * arm, (-1) ** i * amplitude))
    full = 2 * arm * (length // (2 * arm))
    if length != full:
        points.append((length, points[-1][1] / (2 * (length - full))))
    cos, sin = math.cos(theta), math.sin(theta)
    return [(c * cos - r * sin + c0, c * sin + r * cos + r0) for c, r in points]


def zigzag(x: Tensor, c: None, gen: torch.Generator) -> Tensor:
    """A zigzag line at a random height and slope, drawn segment by segment."""
    n = len(x)
    r0 = torch.randint(0, CANVAS - 1, (n,), generator=gen)
    r1 = r0 + torch.randint(-5, 5, (n,), generator=gen)
    paths = [_zigzag_points(int(a), int(b)) for a, b in zip(r0, r1, strict=True)]
    longest = max(len(p) for p in paths)
    pts = torch.zeros(n, longest, 2, dtype=torch.float64)
    for k, p in enumerate(paths):
        pts[k, : len(p)] = torch.tensor(p, dtype=torch.float64)
        pts[k, len(p) :] = pts[k, len(p) - 1]  # repeated end points draw nothing
    out = x
    for s in range(1, longest):
        a, b = pts[:, s - 1], pts[:, s]
        out = (out + line_layer(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[:, None].to(x.dtype)).clamp(0, 1)
    return out


def canny_edges(x: Tensor, c: None, gen: torch.Generator) -> Tensor:
    """The image's Canny edge map (scikit-image's defaults: sigma 1, thresholds 0.1 and 0.2) via kornia."""
    return kornia.filters.canny(x, low_threshold=0.1, high_threshold=0.2, kernel_size=(9, 9), sigma=(1.0, 1.0))[1]


def on_canvas(fn: CanvasFn, table: tuple[Any, ...]) -> Callable[[Tensor, int, int], Tensor]:
    """Run a canvas function at a severity (1-based row of ``table``) on images of any size."""

    def apply(x: Tensor, severity: int, seed: int) -> Tensor:
        gen = torch.Generator().manual_seed(seed)
        size = tuple(x.shape[-2:])
        canvas = x.detach().float().cpu()
        if size != (CANVAS, CANVAS):
            canvas = F.interpolate(canvas, size=(CANVAS, CANVAS), mode="bilinear", align_corners=False).clamp(0, 1)
        out = fn(canvas, table[severity - 1], gen)
        if size != (CANVAS, CANVAS):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False, antialias=True)
        return out.clamp(0, 1).to(x.dtype)

    return apply


# name -> (function, severity table, the level MNIST-C uses). Tables as in the paper's generator.
TABLE: dict[str, tuple[CanvasFn, tuple[Any, ...], int]] = {
    "shot_noise": (shot_noise, (60, 25, 12, 5, 3), 5),
    "impulse_noise": (impulse_noise, (0.03, 0.06, 0.09, 0.17, 0.27), 4),
    "glass_blur": (glass_blur, ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)), 1),
    "motion_blur": (motion_blur, ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)), 1),
    "shear": (shear, (0.2, 0.4, 0.6, 0.8, 1.0), 2),
    "scale": (scale, (1 / 0.9, 1 / 0.8, 1 / 0.7, 1 / 0.6, 1 / 0.5), 3),
    "rotate": (rotate, (0.2, 0.4, 0.6, 0.8, 1.0), 2),
    "brightness": (brightness, (0.1, 0.2, 0.3, 0.4, 0.5), 5),
    "translate": (translate, (1, 2, 3, 4, 5), 3),
    "stripe": (stripe, (None,), 1),
    "fog": (fog, ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)), 5),
    "spatter": (spatter, ((0.65, 0.3, 4, 0.69, 0.6), (0.65, 0.3, 3, 0.68, 0.6), (0.65, 0.3, 2, 0.68, 0.5),
                          (0.65, 0.3, 1, 0.65, 1.5), (0.67, 0.4, 1, 0.65, 1.5)), 4),
    "dotted_line": (dotted_line, (None,), 1),
    "zigzag": (zigzag, (None,), 1),
    "canny_edges": (canny_edges, (None,), 1),
}

CORRUPTIONS: Registry[Corruption] = Registry("corruption")
for _name, (_fn, _table, _level) in TABLE.items():
    CORRUPTIONS.register(_name, Corruption(_name, on_canvas(_fn, _table), len(_table), (_level,),
                                           (_fn.__doc__ or "").split("\n")[0]))

FAMILY = CorruptionFamily(
    name="mnist_c",
    corruptions=CORRUPTIONS,
    default_corruptions=tuple(TABLE),
    default_epsilons=(0.1, 0.3),
    channels=1,
    reference="Mu & Gilmer 2019, MNIST-C (arXiv:1906.02337), at the released dataset's fixed severities",
)
