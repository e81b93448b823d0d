"""Import / export of released distilled sets: round trips, safe loading, and clear refusals."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import zipfile
from dataclasses import replace
from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from benchmarks.artifact import DistilledSet, TrainingHints, load_artifact
from benchmarks.data import RealData
from benchmarks.errors import UserError
from benchmarks.interop import FORMATS, MANIFEST, export_set, import_set
from benchmarks.interop import cli as interop_cli
from benchmarks.interop.dc import DC_STATS

IPC = 3
ALL_FORMATS = ("dc", "mtt", "ddranking", "imagefolder")
KEEPS_LR = ("mtt", "ddranking")


def quantised_set(data: RealData, kind: str = "hard", lr: float | None = None) -> DistilledSet:
    """IPC real images per class, class-major, on the k/255 grid (so PNG round trips are exact)."""
    idx = torch.cat([(data.train_y == c).nonzero().flatten()[:IPC] for c in range(data.num_classes)])
    images = (data.train_x[idx] * 255).round() / 255
    ids = data.train_y[idx].clone()
    labels = ids
    if kind == "soft":
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(len(ids), data.num_classes, generator=gen)
        logits[torch.arange(len(ids)), ids] += 4.0  # the most probable class stays the true one
        labels = torch.softmax(logits, 1)
    hints = TrainingHints() if lr is None else TrainingHints(lr=float(torch.tensor(lr, dtype=torch.float32)))
    return DistilledSet(images, labels, kind, data.num_classes, meta={"dataset": data.name, "method": "random"},
                        hints=hints)


def import_path(fmt: str, files: list[Path], out: Path) -> Path:
    """Where ``import_set`` reads what ``export_set`` wrote: the res_*.pt file for dc, the folder otherwise."""
    return files[0] if fmt == "dc" else out


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_round_trip_hard_labels(fmt, digits, tmp_path):
    ds = quantised_set(digits, lr=0.0123)
    out = tmp_path / fmt
    files = export_set(ds, fmt, out, digits)
    assert files[-1] == out / MANIFEST and all(f.is_file() for f in files)
    back = import_set(fmt, import_path(fmt, files, out), digits)
    if fmt == "imagefolder":
        assert torch.equal(back.images, ds.images)
    else:
        torch.testing.assert_close(back.images, ds.images, atol=1e-6, rtol=0)
    assert back.label_kind == "hard" and torch.equal(back.labels, ds.labels)
    if fmt in KEEPS_LR:
        assert back.hints.lr == ds.hints.lr
    else:
        assert back.hints.lr is None
        assert "not written" in " ".join(json.loads((out / MANIFEST).read_text())["notes"])
    assert back.meta["method"] == f"import:{fmt}" and back.meta["dataset"] == "digits" and back.meta["ipc"] == IPC
    # The imported set is an ordinary artifact: it saves and loads with its hash checked.
    loaded = load_artifact(back.save(tmp_path / "artifacts"))
    assert torch.equal(loaded.images, back.images) and loaded.content_hash() == back.content_hash()


@pytest.mark.parametrize("fmt", ["mtt", "ddranking", "imagefolder"])
def test_round_trip_soft_labels(fmt, digits, tmp_path):
    ds = quantised_set(digits, kind="soft")
    out = tmp_path / fmt
    files = export_set(ds, fmt, out, digits)
    options = {"soft_labels": out / "soft_labels.pt"} if fmt == "imagefolder" else {}
    back = import_set(fmt, import_path(fmt, files, out), digits, **options)
    assert back.label_kind == "soft"
    torch.testing.assert_close(back.labels, ds.labels, atol=1e-6, rtol=0)
    torch.testing.assert_close(back.images, ds.images, atol=1e-6, rtol=0)
    stored_as = back.meta["imported"]["labels"]["stored_as"]
    assert stored_as == ("probs" if fmt == "imagefolder" else "logits")


def test_normalisation_is_undone_and_recorded(digits, tmp_path):
    ds = quantised_set(digits)
    export_set(ds, "mtt", tmp_path / "mtt", digits)
    stored = torch.load(tmp_path / "mtt" / "images_best.pt", weights_only=True)
    mean, std = digits.mean[0], digits.std[0]
    torch.testing.assert_close(stored, (ds.images - mean) / std)
    pixels = import_set("mtt", tmp_path / "mtt", digits).meta["imported"]["pixels"]
    assert pixels["undone"] == "mean/std normalisation"
    assert pixels["mean"] == [mean] and pixels["std"] == [std] and pixels["source"].startswith("dataset")


def test_published_constants_are_used_where_the_codebase_has_them(digits, tmp_path):
    as_mnist = replace(digits, name="mnist")  # DatasetCondensation publishes MNIST's mean/std
    ds = replace(quantised_set(digits), meta={"dataset": "mnist"})
    files = export_set(ds, "dc", tmp_path / "dc", as_mnist)
    stored = torch.load(files[0], weights_only=True)["data"][-1][0]
    (mean,), (std,) = DC_STATS["mnist"]
    torch.testing.assert_close(stored, (ds.images - mean) / std)
    back = import_set("dc", files[0], as_mnist)
    torch.testing.assert_close(back.images, ds.images, atol=1e-6, rtol=0)
    assert back.meta["imported"]["pixels"]["source"].startswith("published")
    with pytest.raises(UserError, match="no published normalisation for 'digits'"):
        import_set("dc", files[0], digits, norm="published")


def test_unnormalised_tensors_are_detected(digits, tmp_path):
    ds = quantised_set(digits)
    folder = tmp_path / "raw"
    folder.mkdir()
    torch.save(ds.images, folder / "images_best.pt")
    torch.save(ds.labels, folder / "labels_best.pt")
    with pytest.raises(UserError, match="un-normalised"):
        import_set("mtt", folder, digits)
    back = import_set("mtt", folder, digits, normalized=False)
    assert torch.equal(back.images, ds.images)


@pytest.fixture(scope="module")
def zca_file(digits, tmp_path_factory) -> Path:
    """kornia's ZCA (MTT's settings) fit on the digits train split, saved as a whitening file."""
    zca = kornia.enhance.ZCAWhitening(eps=0.1, compute_inv=True).fit(digits.train_x)
    path = tmp_path_factory.mktemp("zca") / "zca.safetensors"
    save_file({k: getattr(zca, k).contiguous() for k in ("mean_vector", "transform_matrix", "transform_inv")}, str(path))
    return path


def test_zca_whitened_sets_need_their_whitening(digits, zca_file, tmp_path):
    ds = quantised_set(digits)
    export_set(ds, "mtt", tmp_path / "mtt", digits, zca=zca_file)
    stored = torch.load(tmp_path / "mtt" / "images_best.pt", weights_only=True)
    zca = kornia.enhance.ZCAWhitening(eps=0.1).fit(digits.train_x)
    torch.testing.assert_close(stored, zca(ds.images), atol=1e-4, rtol=0)  # the same whitening kornia applies
    with pytest.raises(UserError, match="looks ZCA-whitened"):
        import_set("mtt", tmp_path / "mtt", digits)
    with pytest.raises(UserError, match="give its whitening"):
        import_set("mtt", tmp_path / "mtt", digits, whitened=True)
    back = import_set("mtt", tmp_path / "mtt", digits, zca=zca_file)
    torch.testing.assert_close(back.images, ds.images, atol=1e-4, rtol=0)
    assert back.meta["imported"]["pixels"]["whitening"]["file"] == "zca.safetensors"
    # A whitening file without its inverse (a .pt this time) is inverted on load.
    whitening = {"mean": zca.mean_vector, "transform": zca.transform_matrix}
    torch.save(whitening, tmp_path / "zca.pt")
    again = import_set("mtt", tmp_path / "mtt", digits, zca=tmp_path / "zca.pt")
    torch.testing.assert_close(again.images, ds.images, atol=1e-4, rtol=0)


class _Payload:
    """Unpickling this creates the marker file: a stand-in for any code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _plant(case: str, folder: Path, payload: _Payload, digits: RealData) -> tuple[str, Path, dict]:
    """Write a file carrying ``payload`` where format ``case`` reads it; returns (format, path, options)."""
    ds = quantised_set(digits)
    if case == "dc_zip":
        path = folder / "res_evil.pt"
        torch.save({"data": [[payload, ds.labels]]}, path)
        return "dc", path, {}
    if case == "mtt_plain_pickle":
        with open(folder / "images_best.pt", "wb") as f:
            pickle.dump(payload, f)
        torch.save(ds.labels, folder / "labels_best.pt")
        return "mtt", folder, {}
    if case == "ddranking_lr":
        export_set(ds, "ddranking", folder / "set", digits)
        torch.save(payload, folder / "set" / "lr.pt")
        return "ddranking", folder / "set", {}
    export_set(ds, "imagefolder", folder / "tree", digits)
    torch.save({"soft_labels": payload}, folder / "soft.pt")
    return "imagefolder", folder / "tree", {"soft_labels": folder / "soft.pt"}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("case", ["dc_zip", "mtt_plain_pickle", "ddranking_lr", "imagefolder_soft_labels"])
def test_a_pickled_code_payload_is_refused_without_running(case, digits, tmp_path):
    marker = tmp_path / "payload_ran"
    fmt, path, options = _plant(case, tmp_path, _Payload(marker), digits)
    assert not marker.exists()
    with pytest.raises(UserError, match=r"cannot be loaded safely with torch.load\(weights_only=True\)"):
        import_set(fmt, path, digits, **options)
    assert not marker.exists()


def _rename_numpy_module(path: Path) -> None:
    """Rewrite a torch zip file as numpy 1.x writes numpy scalars (module ``numpy.core``)."""
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in entries if n.endswith("data.pkl"))
    assert b"numpy._core.multiarray\nscalar" in entries[pkl]
    entries[pkl] = entries[pkl].replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, blob in entries.items():
            z.writestr(name, blob)


@pytest.mark.parametrize("numpy_1x", [False, True])
def test_dc_results_with_numpy_accuracies_load(numpy_1x, digits, tmp_path):
    ds = quantised_set(digits)
    images = (ds.images - digits.mean[0]) / digits.std[0]
    path = tmp_path / "res_DC_digits_ConvNet_3ipc.pt"
    first = [torch.zeros_like(images), ds.labels]  # an earlier experiment: the last pair is the one read
    torch.save({"data": [first, [images, ds.labels]], "accs_all_exps": {"ConvNet": [np.float64(0.91)]}}, path)
    if numpy_1x:
        _rename_numpy_module(path)
    back = import_set("dc", path, digits)
    torch.testing.assert_close(back.images, ds.images, atol=1e-6, rtol=0)
    assert back.meta["imported"]["pair_used"] == 1


def _mtt_folder(tmp_path: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    folder = tmp_path / "mtt"
    folder.mkdir()
    torch.save(images, folder / "images_best.pt")
    torch.save(labels, folder / "labels_best.pt")
    return folder


@pytest.mark.parametrize(("images", "labels", "needle"), [
    (torch.zeros(30, 3, 16, 16), torch.arange(10).repeat_interleave(3), "3 channel(s) but digits has 1"),
    (torch.zeros(30, 1, 8, 8), torch.arange(10).repeat_interleave(3), "8x8 images but digits is 16x16"),
    (torch.zeros(30, 1, 16, 16), torch.arange(10).repeat_interleave(2), "expected 30 class ids"),
    (torch.zeros(30, 1, 16, 16), torch.arange(30) % 13, "class ids 0..12 but digits has 10 classes"),
    (torch.zeros(30, 1, 16, 16), torch.randn(30, 9), "9 classes per row but digits has 10"),
    (torch.zeros(30, 1, 16, 16), torch.ones(30), "expected integer class ids"),
    (torch.full((30, 1, 16, 16), float("nan")), torch.arange(10).repeat_interleave(3), "NaN"),
    (torch.rand(30, 1, 16, 16) + 40, torch.arange(10).repeat_interleave(3), "fall outside [0, 1]"),
])
def test_wrong_tensors_are_refused_with_what_is_wrong(images, labels, needle, digits, tmp_path):
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        import_set("mtt", _mtt_folder(tmp_path, images, labels), digits)


def test_imagefolder_class_count_and_size_are_checked(digits, tmp_path):
    ds = quantised_set(digits)
    export_set(ds, "imagefolder", tmp_path / "tree", digits)
    (tmp_path / "tree" / "009").rename(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="9 class folders .* but digits has 10 classes"):
        import_set("imagefolder", tmp_path / "tree", digits)
    big = replace(digits, train_x=torch.nn.functional.interpolate(digits.train_x[:40], size=(24, 24)))
    export_set(replace(ds, images=torch.rand(30, 1, 24, 24), meta={}), "imagefolder", tmp_path / "big", big)
    with pytest.raises(UserError, match="is 24x24 but digits is 16x16; resize=true"):
        import_set("imagefolder", tmp_path / "big", digits)
    resized = import_set("imagefolder", tmp_path / "big", digits, resize=True)
    assert resized.images.shape == (30, 1, 16, 16) and resized.meta["imported"]["images_resized"] == 30


def test_soft_label_file_must_fit_the_tree(digits, tmp_path):
    export_set(quantised_set(digits), "imagefolder", tmp_path / "tree", digits)
    save_file({"soft_labels": torch.softmax(torch.randn(29, 10), 1)}, str(tmp_path / "soft.safetensors"))
    with pytest.raises(UserError, match=r"shape \(29, 10\), expected \[30, 10\]"):
        import_set("imagefolder", tmp_path / "tree", digits, soft_labels=tmp_path / "soft.safetensors")
    save_file({"soft_labels": torch.rand(30, 10)}, str(tmp_path / "soft.safetensors"))
    with pytest.raises(UserError, match="read as probabilities but row"):
        import_set("imagefolder", tmp_path / "tree", digits, soft_labels=tmp_path / "soft.safetensors",
                   soft_kind="probs")


@pytest.mark.parametrize(("call", "needle"), [
    (lambda d, p: import_set("pickle", p, d), "unknown format 'pickle'"),
    (lambda d, p: import_set("imagefolder", p, d, zca=p), "does not use option 'zca'"),
    (lambda d, p: import_set("mtt", p, d, learning_rate=0.1), "unknown option 'learning_rate'"),
    (lambda d, p: import_set("mtt", p, d, lr=-1), "lr must be positive"),
    (lambda d, p: import_set("mtt", p, d, mean=[0.5]), "mean and std together"),
    (lambda d, p: import_set("mtt", p, d, norm="imagenet"), "norm must be one of"),
    (lambda d, p: import_set("dc", p / "missing.pt", d), "no file at"),
    (lambda d, p: export_set(quantised_set(d, kind="soft"), "dc", p / "out", d), "class ids only"),
])
def test_bad_calls_are_user_errors(call, needle, digits, tmp_path):
    with pytest.raises(UserError, match=needle):
        call(digits, tmp_path)


def test_dc_file_structure_is_checked(digits, tmp_path):
    torch.save({"images": torch.zeros(3)}, tmp_path / "res.pt")
    with pytest.raises(UserError, match="not a DatasetCondensation result"):
        import_set("dc", tmp_path / "res.pt", digits)
    (tmp_path / "res.pt").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="cannot be loaded safely"):
        import_set("dc", tmp_path / "res.pt", digits)


def test_export_refuses_a_used_folder_or_another_dataset(digits, tmp_path):
    ds = quantised_set(digits)
    export_set(ds, "mtt", tmp_path / "once", digits)
    with pytest.raises(UserError, match="not an empty folder"):
        export_set(ds, "mtt", tmp_path / "once", digits)
    with pytest.raises(UserError, match="for dataset 'digits', not 'mnist'"):
        export_set(ds, "mtt", tmp_path / "other", replace(digits, name="mnist"))


def test_cli_export_then_import(digits, tmp_path, capsys):
    """Through ``ddbench``'s own entry (which declares only the command it runs), as a user types it."""
    from benchmarks.cli import main

    artifact = quantised_set(digits, lr=0.02).save(tmp_path / "artifacts")
    assert main(["export", str(artifact), "mtt", "--out", str(tmp_path / "mtt")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1] == str(tmp_path / "mtt" / MANIFEST) and len(printed) == 4
    assert main(["import", "mtt", str(tmp_path / "mtt"), "--dataset", "digits", "--out", str(tmp_path / "imported"),
                 "--lr", "0.05"]) == 0
    saved = capsys.readouterr().out.split()[0]
    back = load_artifact(saved)
    assert torch.equal(back.labels, load_artifact(artifact).labels)
    assert back.hints.lr == pytest.approx(0.05)
    lr_info = back.meta["imported"]["lr"]
    assert lr_info["source"] == "option" and lr_info["stored_value_ignored"] == pytest.approx(0.02)
    assert main(["import", "mtt", str(tmp_path / "mtt"), "--dataset", "digits", "--soft-labels", "x.pt"]) == 2
    assert "does not use option 'soft_labels'" in capsys.readouterr().err


def test_the_interop_module_declares_both_commands_for_scripts_that_build_their_own_parser(digits, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    interop_cli.add_parser(parser.add_subparsers(dest="cmd"))
    artifact = quantised_set(digits).save(tmp_path / "artifacts")
    interop_cli.run(parser.parse_args(["export", str(artifact), "dc", "--out", str(tmp_path / "dc")]))
    assert (tmp_path / "dc" / MANIFEST).is_file()


def test_every_format_is_covered_here():
    assert set(FORMATS.names()) == set(ALL_FORMATS)
