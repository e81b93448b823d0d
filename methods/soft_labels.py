"""Soft-label methods built on a cached teacher: ``soft_random`` and ``rded_static`` (static labels), ``rded`` and
``random_online`` (online).

``soft_random`` (Qin et al. 2024's strong baseline): IPC random real images per class, each
labelled once with the teacher's softmax (an early-stopped teacher is just one with few epochs).
``rded`` (Sun et al. 2024): per class, random crops of real images scored by the teacher's
cross-entropy; the most realistic f x f patches are stitched into each image, and the student is
relabelled online by the teacher on every augmented batch. ``rded_static`` keeps RDED's images and labels each
once, as ``soft_random`` does, and ``random_online`` relabels soft_random's images online: with these two, the
four cover images (random or RDED's crops) x labels (static or online), which tells RDED's crops from its
relabelling. GIFT is not a method here: it is the ``gift`` loss, applicable to any of these artifacts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.functional import resized_crop

from benchmarks.artifact import DistilledSet
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.methods import Budget, register_method
from benchmarks.seeding import generator, seed_global
from benchmarks.selection import per_class
from benchmarks.teachers import Teacher, TeacherConfig, get_teacher


def teacher_for(data: RealData, model: str, epochs: int, seed: int, device: torch.device) -> Teacher:
    """The cached teacher trained on this dataset's train split (trained on first use): ``epochs`` epochs on a
    cosine schedule, or with ``epochs = 0`` to its validation plateau (``TeacherConfig.plateau``)."""
    if epochs < 0:
        raise UserError(f"teacher_epochs must be 0 (train to the validation plateau) or a number of epochs, got {epochs}")
    cfg = TeacherConfig(data.name, model, seed, epochs) if epochs else TeacherConfig.plateau(data.name, model, seed)
    teacher = get_teacher(cfg, device, data=data)
    teacher.check_classes(data)
    return teacher


def _teacher_meta(t: Teacher) -> dict[str, object]:
    plateau = {"teacher_patience": t.config.patience} if t.config.patience else {}  # fixed-epoch metadata unchanged
    return {"teacher_key": t.key, "teacher_model": t.config.model,
            "teacher_epochs": t.record.get("epochs_kept", t.config.epochs), **plateau,
            "teacher_val_acc": t.record["val_acc"]}


# teacher_epochs = 0: the teacher trains to its validation plateau (benchmarks.teachers.PLATEAU_*); a positive
# number trains exactly that many epochs (an early-stopped, weaker teacher).
TEACHER = dict(teacher_model="convnet3", teacher_epochs=0, teacher_seed=0)


def _random_images(data: RealData, budget: Budget, seed: int) -> DistilledSet:
    """IPC random real training images per class, drawn from the seed alone (shared by the random soft-label rows)."""
    gen = generator(seed)
    return per_class(data, budget.ipc, lambda c, idx: idx[torch.randperm(len(idx), generator=gen)])


@register_method("soft_random", label_kind="soft", temperature=1.0, **TEACHER, smoke={"teacher_epochs": 1},
                 description="random real images per class with a teacher's static soft labels")
def soft_random(data: RealData, budget: Budget, seed: int, device: torch.device, temperature: float,
                teacher_model: str, teacher_epochs: int, teacher_seed: int) -> DistilledSet:
    teacher = teacher_for(data, teacher_model, teacher_epochs, teacher_seed, device)
    chosen = _random_images(data, budget, seed)
    logits = teacher.logits(data.normalize(chosen.images.to(device))).cpu()
    probs = F.softmax(logits / temperature, 1)
    return DistilledSet(chosen.images, probs, "soft", data.num_classes, teacher=teacher.key,
                        meta={**chosen.meta, **_teacher_meta(teacher), "temperature": temperature})


@register_method("random_online", label_kind="online", **TEACHER, smoke={"teacher_epochs": 1},
                 description="soft_random's images relabelled online by the teacher on every augmented batch")
def random_online(data: RealData, budget: Budget, seed: int, device: torch.device, teacher_model: str,
                  teacher_epochs: int, teacher_seed: int) -> DistilledSet:
    """With soft_random (same images, static labels), rded_static and rded, the fourth corner of images (random or
    RDED's crops) x labels (static or online)."""
    teacher = teacher_for(data, teacher_model, teacher_epochs, teacher_seed, device)
    chosen = _random_images(data, budget, seed)
    return DistilledSet(chosen.images, chosen.labels, "online", data.num_classes, teacher=teacher.key,
                        meta={**chosen.meta, **_teacher_meta(teacher)})


def _best_crops(images: Tensor, cls: int, teacher: Teacher, data: RealData, crops: int, factor: int,
                device: torch.device) -> tuple[Tensor, Tensor]:
    """For each image, its lowest-CE random crop (patch of size H/f) and that CE."""
    size = data.size
    patch = size // factor
    sampler = RandomResizedCrop(patch, scale=(0.08, 1.0), ratio=(1.0, 1.0))
    best_ce = torch.full((len(images),), float("inf"))
    best = torch.zeros(len(images), data.channels, patch, patch)
    for _ in range(crops):
        cand = torch.stack([resized_crop(img, *sampler.get_params(img, sampler.scale, sampler.ratio), [patch, patch],
                                         antialias=True) for img in images]).clamp(0, 1)
        x = data.normalize(cand)
        if factor > 1:  # score the patch alone on a zero (normalised) canvas, as RDED does
            x = F.pad(x, (0, size - patch, 0, size - patch))
        ce = F.cross_entropy(teacher.logits(x.to(device)), torch.full((len(x),), cls, device=device),
                             reduction="none").cpu()
        better = ce < best_ce
        best_ce = torch.where(better, ce, best_ce)
        best[better] = cand[better]
    return best, best_ce


def _stitch(patches: Tensor, ipc: int, factor: int) -> Tensor:
    """Image j takes patches j, ipc + j, 2 ipc + j, ... in its f x f grid, row-major (slot 0 = best)."""
    rows = []
    for j in range(ipc):
        tiles = [patches[k * ipc + j] for k in range(factor * factor)]
        rows.append(torch.cat([torch.cat(tiles[r * factor:(r + 1) * factor], dim=2) for r in range(factor)], dim=1))
    return torch.stack(rows)


def _rded_set(data: RealData, budget: Budget, seed: int, device: torch.device, factor: int, candidates: int,
              crops: int, teacher_model: str, teacher_epochs: int, teacher_seed: int) -> tuple[Tensor, Tensor, Teacher, dict]:
    """RDED's images (per class, the teacher's lowest-CE crops, stitched f x f), their classes, the teacher and the
    set's metadata."""
    if factor < 1 or data.size % factor:
        raise UserError(f"rded factor must be a positive divisor of the image size {data.size}, got {factor}")
    teacher = teacher_for(data, teacher_model, teacher_epochs, teacher_seed, device)
    seed_global(seed)  # crop draws must not depend on whether the teacher was cached or just trained
    gen = generator(seed)
    images, labels, scores = [], [], []
    need = budget.ipc * factor * factor
    for c in range(data.num_classes):
        idx = (data.train_y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)[:max(candidates, need)]]
        if len(idx) < need:
            raise UserError(f"class {data.classes[c]!r} has {len(idx)} images, fewer than ipc x factor^2 = {need}")
        best, ce = _best_crops(data.train_x[idx], c, teacher, data, crops, factor, device)
        keep = ce.argsort()[:need]
        images.append(_stitch(best[keep], budget.ipc, factor) if factor > 1 else best[keep])
        labels.append(torch.full((budget.ipc,), c, dtype=torch.long))
        scores.append(ce[keep].mean())
    meta = {**_teacher_meta(teacher), "factor": factor, "candidates": candidates, "crops": crops,
            "mean_kept_ce": round(float(torch.stack(scores).mean()), 5)}
    return torch.cat(images).contiguous(), torch.cat(labels), teacher, meta


RDED = dict(factor=1, candidates=300, crops=5, **TEACHER, smoke={"teacher_epochs": 1, "candidates": 12, "crops": 2})


@register_method("rded", label_kind="online", **RDED,
                 description="RDED: the teacher's most realistic crops per class, stitched f x f; online relabelling")
def rded(data: RealData, budget: Budget, seed: int, device: torch.device, factor: int, candidates: int, crops: int,
         teacher_model: str, teacher_epochs: int, teacher_seed: int) -> DistilledSet:
    images, classes, teacher, meta = _rded_set(data, budget, seed, device, factor, candidates, crops, teacher_model,
                                               teacher_epochs, teacher_seed)
    return DistilledSet(images, classes, "online", data.num_classes, teacher=teacher.key, meta=meta)


@register_method("rded_static", label_kind="soft", temperature=1.0, **RDED,
                 description="RDED's images labelled once by the teacher (static soft labels): separates its crops "
                             "from its online relabelling")
def rded_static(data: RealData, budget: Budget, seed: int, device: torch.device, temperature: float, factor: int,
                candidates: int, crops: int, teacher_model: str, teacher_epochs: int, teacher_seed: int) -> DistilledSet:
    """The same images as ``rded`` with the same seed; each labelled with the teacher's softmax as ``soft_random``
    labels its random images, so that training never queries the teacher on an augmented view."""
    images, _, teacher, meta = _rded_set(data, budget, seed, device, factor, candidates, crops, teacher_model,
                                         teacher_epochs, teacher_seed)
    probs = F.softmax(teacher.logits(data.normalize(images.to(device))).cpu() / temperature, 1)
    return DistilledSet(images, probs, "soft", data.num_classes, teacher=teacher.key,
                        meta={**meta, "temperature": temperature})
