"""A catalogue of bad inputs, as a new user would make them: each must end with exit 2 and exactly one
``ddbench: error:`` line naming the problem, no traceback, and no change to the store, cache or artifacts.

Most cases run ``benchmarks.cli.main`` in-process (fast); the ones that used to end in a traceback also run
through ``python -m benchmarks`` in a subprocess (``SUBPROCESS``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from benchmarks.artifact import DistilledSet, _digest, _stored_header
from benchmarks.cli import main
from benchmarks.data import load_dataset
from benchmarks.driver import run_suite
from benchmarks.methods import Budget, run_method
from benchmarks.suite import parse_suite

ROOT = Path(__file__).resolve().parents[1]
TINY_TOML = """name = "tiny"
[grid]
datasets = ["digits"]
methods = ["random"]
ipc = [1]
models = ["lenet"]
optimizers = ["adam"]
[eval]
steps = 2
batch_size = 16
val_size = 40
"""


def _tiny(**changes: str) -> str:
    """The tiny suite with lines replaced (``old=new``) or appended (key ``+``)."""
    text = TINY_TOML
    for old, new in changes.items():
        if old == "+":
            text += new + "\n"
        else:
            assert old in text, old
            text = text.replace(old, new)
    return text


def _suite(text: str) -> Callable[[Path], None]:
    def write(case_dir: Path) -> None:
        (case_dir / "s.toml").write_text(text)

    return write


def _artifact_doc(case_dir: Path) -> tuple[dict, Path]:
    """The valid artifact's header (as a dict) and path; ``case_dir`` is <workspace>/cases/<name>."""
    header = next((case_dir.parents[1] / "artifacts").glob("*.json"))
    return json.loads(header.read_text()), header


def _edited_header(edit: Callable[[dict], object], text: str | None = None) -> Callable[[Path], None]:
    """A copy of the valid artifact whose header JSON ``edit`` changes in place (the hash is left as it was),
    or whose header is replaced by ``text``."""

    def write(case_dir: Path) -> None:
        doc, header = _artifact_doc(case_dir)
        (case_dir / doc["tensors"]).write_bytes((header.parent / doc["tensors"]).read_bytes())
        edit(doc)
        (case_dir / "a.json").write_text(json.dumps(doc) if text is None else text)

    return write


def _raw_tensors(data: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A copy of the valid artifact whose .safetensors bytes ``data`` replaces."""

    def write(case_dir: Path) -> None:
        doc, header = _artifact_doc(case_dir)
        (case_dir / doc["tensors"]).write_bytes(data((header.parent / doc["tensors"]).read_bytes()))
        (case_dir / "a.json").write_text(json.dumps(doc))

    return write


def _consistent(images: Callable[[torch.Tensor], torch.Tensor], labels: Callable[[torch.Tensor], torch.Tensor],
                **header: object) -> Callable[[Path], None]:
    """An artifact with changed tensors and header fields under a *matching* hash (content the checks must refuse)."""

    def write(case_dir: Path) -> None:
        from safetensors.torch import load_file

        doc, h = _artifact_doc(case_dir)
        t = load_file(str(h.parent / doc["tensors"]))
        t = {"images": images(t["images"]).contiguous(), "labels": labels(t["labels"]).contiguous()}
        doc.update(header)
        save_file(t, str(case_dir / "t.safetensors"))
        doc["tensors"], doc["hash"] = "t.safetensors", _digest(t, _stored_header(doc))
        (case_dir / "a.json").write_text(json.dumps(doc))

    return write


@dataclass(frozen=True)
class Case:
    argv: list[str]  # "{case}" is the case's folder, "{ws}" the shared workspace
    expect: str  # a fragment the one error line must contain
    setup: Callable[[Path], None] | None = None
    skip_root: bool = False
    env: dict[str, str] = field(default_factory=dict)


EV = ["evaluate", "{art}", "--steps", "2", "--val-size", "40"]
RUN = ["run", "{case}/s.toml", "--no-report", "--no-progress"]
DI = ["distill", "--dataset", "digits", "--out", "{case}/out"]
NAN = float("nan")

CASES: dict[str, Case] = {
    # ---- evaluate flags
    "lr-nan": Case([*EV, "--lr", "nan"], "finite"),
    "lr-inf": Case([*EV, "--lr", "inf"], "finite"),
    "lr-negative": Case([*EV, "--lr", "-1"], "learning rate"),
    "lr-zero": Case([*EV, "--lr", "0"], "learning rate"),
    "lr-text": Case([*EV, "--lr", "fast"], "--lr"),
    "lr-grid-zero": Case([*EV, "--lr-grid", "0", "1"], "lr_grid"),
    "lr-grid-nan": Case([*EV, "--lr-grid", "nan"], "finite"),
    "steps-zero": Case([*EV, "--steps", "0"], "steps"),
    "steps-negative": Case([*EV, "--steps", "-5"], "steps"),
    "steps-text": Case([*EV, "--steps", "ten"], "--steps"),
    "batch-zero": Case([*EV, "--batch-size", "0"], "batch_size"),
    "val-size-zero": Case([*EV, "--val-size", "0"], "val_size"),
    "weight-decay-negative": Case([*EV, "--weight-decay", "-1"], "weight_decay"),
    "precision": Case([*EV, "--precision", "fp16"], "precision"),
    "model": Case([*EV, "--model", "nosuchnet"], "nosuchnet"),
    "optimizer": Case([*EV, "--optimizer", "sgdd"], "sgdd"),
    "loss": Case([*EV, "--loss", "nosuchloss"], "nosuchloss"),
    "loss-param-unknown": Case([*EV, "--loss", "kl", "--loss-param", "bogus=1"], "bogus"),
    "loss-param-no-equals": Case([*EV, "--loss", "kl", "--loss-param", "T"], "key=value"),
    "loss-param-type": Case([*EV, "--loss", "kl", "--loss-param", "T=hot"], "T"),
    "schedule": Case([*EV, "--schedule", "wavy"], "wavy"),
    "augment": Case([*EV, "--augment", "rotate"], "rotate"),
    "compile-flag": Case([*EV, "--compile", "maybe"], "--compile"),
    "eval-dataset": Case([*EV, "--dataset", "nosuchdata"], "nosuchdata"),
    "device-cuda": Case([*EV, "--device", "cuda"], "cuda"),
    "device-gpu0": Case([*EV, "--device", "gpu0"], "gpu0"),
    "device-cuda7": Case([*EV, "--device", "cuda:7"], "cuda:7"),
    "artifact-missing": Case(["evaluate", "{case}/none.json"], "no artifact"),
    "artifact-is-dir": Case(["evaluate", "{case}"], "artifact"),
    # ---- artifact files
    "header-not-json": Case(["evaluate", "{case}/a.json"], "a.json", _edited_header(lambda d: None, "{not json")),
    "header-a-list": Case(["evaluate", "{case}/a.json"], "a.json", _edited_header(lambda d: None, "[1, 2]")),
    "header-no-label-kind": Case(["evaluate", "{case}/a.json"], "label_kind", _edited_header(lambda d: d.pop("label_kind"))),
    "header-no-meta": Case(["evaluate", "{case}/a.json"], "meta", _edited_header(lambda d: d.pop("meta"))),
    "header-schema": Case(["evaluate", "{case}/a.json"], "schema", _edited_header(lambda d: d.update(schema_version=99))),
    "header-tensors-path": Case(["evaluate", "{case}/a.json"], "tensors",
                                _edited_header(lambda d: d.update(tensors="../../etc/passwd"))),
    "header-hash-edited": Case(["evaluate", "{case}/a.json"], "hash", _edited_header(lambda d: d["meta"].update(seed=7))),
    "header-hints-type": Case(["evaluate", "{case}/a.json"], "hints", _edited_header(lambda d: d.update(hints={"x": 1}))),
    "header-num-classes-text": Case(["evaluate", "{case}/a.json"], "num_classes",
                                    _consistent(lambda x: x, lambda y: y, num_classes="ten")),
    "header-teacher-path": Case(["evaluate", "{case}/a.json"], "teacher",
                                _consistent(lambda x: x, lambda y: y, label_kind="online", teacher="../../x")),
    "header-hints-steps-text": Case(["evaluate", "{case}/a.json"], "hints",
                                    _consistent(lambda x: x, lambda y: y, hints={"steps": "many"})),
    "tensors-truncated": Case(["evaluate", "{case}/a.json"], "a.json", _raw_tensors(lambda b: b[: len(b) // 2])),
    "tensors-empty": Case(["evaluate", "{case}/a.json"], "a.json", _raw_tensors(lambda b: b"")),
    "tensors-garbage": Case(["evaluate", "{case}/a.json"], "a.json", _raw_tensors(lambda b: os.urandom(64))),
    "nan-pixels": Case(["evaluate", "{case}/a.json"], "NaN", _consistent(lambda x: x.index_fill(0, torch.tensor([0]), NAN),
                                                                           lambda y: y)),
    "pixels-out-of-range": Case(["evaluate", "{case}/a.json"], "[0, 1]", _consistent(lambda x: x * 255, lambda y: y)),
    "soft-wrong-width": Case(["evaluate", "{case}/a.json"], "soft labels",
                             _consistent(lambda x: x, lambda y: torch.full((len(y), 3), 1 / 3), label_kind="soft")),
    "soft-nan": Case(["evaluate", "{case}/a.json"], "NaN",
                     _consistent(lambda x: x, lambda y: torch.full((len(y), 10), NAN), label_kind="soft")),
    "labels-count": Case(["evaluate", "{case}/a.json"], "labels", _consistent(lambda x: x, lambda y: y[:-1])),
    "label-kind": Case(["evaluate", "{case}/a.json"], "label_kind", _consistent(lambda x: x, lambda y: y, label_kind="fuzzy")),
    # ---- distill
    "method": Case([*DI[:1], "nosuchmethod", *DI[1:]], "nosuchmethod"),
    "ipc-zero": Case([*DI[:1], "random", *DI[1:], "--ipc", "0"], "image per class"),
    "ipc-huge": Case([*DI[:1], "random", *DI[1:], "--ipc", "1000000000"], "ipc"),
    "iterations-zero": Case([*DI[:1], "ld", *DI[1:], "--ipc", "1", "--iterations", "0"], "iterations"),
    "seconds-zero": Case([*DI[:1], "random", *DI[1:], "--ipc", "1", "--seconds", "0"], "seconds"),
    "seconds-nan": Case([*DI[:1], "random", *DI[1:], "--ipc", "1", "--seconds", "nan"], "finite"),
    "param-type": Case([*DI[:1], "herding", *DI[1:], "--ipc", "1", "--param", "feature_steps=abc"], "feature_steps"),
    "param-float-for-int": Case([*DI[:1], "herding", *DI[1:], "--ipc", "1", "--param", "feature_steps=2.5"],
                                "feature_steps"),
    "param-unknown": Case([*DI[:1], "herding", *DI[1:], "--param", "nosuch=1"], "nosuch"),
    "param-no-equals": Case([*DI[:1], "herding", *DI[1:], "--param", "feature_steps"], "key=value"),
    "distill-dataset": Case(["distill", "random", "--dataset", "nosuchdata", "--out", "{case}/out"], "nosuchdata"),
    "distill-out-is-file": Case([*DI[:1], "random", "--dataset", "digits", "--ipc", "1", "--out", "{case}/f"], "--out",
                                lambda d: (d / "f").write_text("x")),
    # ---- run flags
    "run-unknown-suite": Case(["run", "nosuchsuite"], "nosuchsuite"),
    "run-limit-negative": Case([*RUN, "--limit", "-11"], "--limit", _suite(TINY_TOML)),
    "run-shard-range": Case([*RUN, "--shard", "2/2"], "--shard", _suite(TINY_TOML)),
    "run-shard-text": Case([*RUN, "--shard", "half"], "--shard", _suite(TINY_TOML)),
    "run-methods-not-in-suite": Case([*RUN, "--methods", "random,herding"], "has no method 'herding'",
                                     _suite(TINY_TOML)),
    "run-methods-empty": Case([*RUN, "--methods", ","], "--methods", _suite(TINY_TOML)),
    "run-models-not-in-suite": Case([*RUN, "--models", "resnet18"], "has no model 'resnet18'", _suite(TINY_TOML)),
    "run-models-empty": Case([*RUN, "--models", ","], "--models", _suite(TINY_TOML)),
    "run-records-not-dir": Case([*RUN, "--records-dir", "{case}/f"], "not a directory",
                                lambda d: (_suite(TINY_TOML)(d), (d / "f").write_text("x"))),
    "run-records-read-only": Case([*RUN, "--records-dir", "{case}/ro"], "writable",
                                  lambda d: (_suite(TINY_TOML)(d), (d / "ro").mkdir(), (d / "ro").chmod(0o500)),
                                  skip_root=True),
    # ---- suite files
    "toml-invalid": Case(RUN, "TOML", _suite("name = [unclosed")),
    "datasets-int": Case(RUN, "datasets", _suite(_tiny(**{'datasets = ["digits"]': "datasets = 5"}))),
    "datasets-empty": Case(RUN, "datasets", _suite(_tiny(**{'datasets = ["digits"]': "datasets = []"}))),
    "methods-table": Case(RUN, "methods", _suite(_tiny(**{'methods = ["random"]': "methods = {a = 1}"}))),
    "steps-string": Case(RUN, "steps", _suite(_tiny(**{"steps = 2": 'steps = "ten"'}))),
    "robustness-no-reference": Case(RUN, "reference row", _suite(_tiny(**{"+": "[eval.robustness]"}))),
    "robustness-attack-name": Case(RUN, "pgdd", _suite(_tiny(**{'methods = ["random"]': 'methods = ["random", "full"]',
                                                              "+": '[eval.robustness]\nattacks = ["pgdd"]'}))),
    "robustness-epsilon": Case(RUN, "epsilon", _suite(_tiny(**{'methods = ["random"]': 'methods = ["random", "full"]',
                                                             "+": "[eval.robustness]\nepsilons = [1.5]"}))),
    "robustness-severity": Case(RUN, "severit", _suite(_tiny(**{'methods = ["random"]': 'methods = ["random", "full"]',
                                                              "+": '[eval.robustness]\ncorruptions = ["rotate"]\n'
                                                                   "severities = [9]"}))),
    "steps-bool": Case(RUN, "steps", _suite(_tiny(**{"steps = 2": "steps = true"}))),
    "steps-float": Case(RUN, "steps", _suite(_tiny(**{"steps = 2": "steps = 2.5"}))),
    "batch-size-zero": Case(RUN, "batch_size", _suite(_tiny(**{"batch_size = 16": "batch_size = 0"}))),
    "weight-decay-string": Case(RUN, "weight_decay", _suite(_tiny(**{"+": 'weight_decay = "small"'}))),
    "lr-grid-string": Case(RUN, "lr_grid", _suite(_tiny(**{"+": 'lr_grid = "wide"'}))),
    "precision-value": Case(RUN, "precision", _suite(_tiny(**{"+": 'precision = "fp16"'}))),
    "compile-value": Case(RUN, "compile", _suite(_tiny(**{"+": 'compile = "maybe"'}))),
    "steps-from-artifact-string": Case(RUN, "steps_from_artifact", _suite(_tiny(**{"+": 'steps_from_artifact = "yes"'}))),
    "scalar-lr": Case(RUN, "lr", _suite(_tiny(**{"+": "lr = 0.1"}))),
    "lr-adam-zero": Case(RUN, "adam", _suite(_tiny(**{"+": "[eval.lr]\nadam = 0"}))),
    "lr-unknown-optimizer": Case(RUN, "adamm", _suite(_tiny(**{"+": "[eval.lr]\nadamm = 0.1"}))),
    "evall": Case(RUN, "evall", _suite(_tiny(**{"+": "[evall]\nsteps = 3"}))),
    "method-table": Case(RUN, "method", _suite(_tiny(**{"+": "[method.herding]\nfeature_steps = 3"}))),
    "methods-not-in-grid": Case(RUN, "herding", _suite(_tiny(**{"+": "[methods.herding]\nfeature_steps = 3"}))),
    "methods-unknown": Case(RUN, "herdin", _suite(_tiny(**{"+": "[methods.herdin]\nfeature_steps = 3"}))),
    "methods-param-unknown": Case(RUN, "bogus", _suite(_tiny(**{"+": "[methods.random]\nbogus = 3"}))),
    "methods-param-type": Case(RUN, "feature_steps", _suite(
        _tiny(**{'methods = ["random"]': 'methods = ["herding"]', "+": '[methods.herding]\nfeature_steps = "abc"'}))),
    "methods-not-table": Case(RUN, "methods", _suite(_tiny(**{"+": "methods = 3"}))),
    "iteration-top": Case(RUN, "iteration", _suite("iteration = 5\n" + TINY_TOML)),
    "iterations-top-string": Case(RUN, "iterations", _suite('iterations = "5"\n' + TINY_TOML)),
    "grid-not-table": Case(RUN, "grid", _suite('name = "x"\ngrid = 5\n')),
    "eval-not-table": Case(RUN, "eval", _suite(_tiny(**{"[eval]\nsteps = 2\nbatch_size = 16\nval_size = 40\n": "eval = 3\n"}))),
    "grid-key": Case(RUN, "modells", _suite(_tiny(**{'models = ["lenet"]': 'modells = ["lenet"]'}))),
    "grid-missing": Case(RUN, "models", _suite(_tiny(**{'models = ["lenet"]': ""}))),
    "grid-model": Case(RUN, "nosuchnet", _suite(_tiny(**{'models = ["lenet"]': 'models = ["nosuchnet"]'}))),
    "grid-ipc-zero": Case(RUN, "ipc", _suite(_tiny(**{"ipc = [1]": "ipc = [0]"}))),
    "grid-ipc-string": Case(RUN, "ipc", _suite(_tiny(**{"ipc = [1]": 'ipc = ["one"]'}))),
    "grid-seeds-negative": Case(RUN, "seeds", _suite(_tiny(**{"+": ""}).replace("ipc = [1]", "ipc = [1]\nseeds = [-1]"))),
    "grid-iterations-zero": Case(RUN, "iterations", _suite(_tiny().replace("ipc = [1]", "ipc = [1]\niterations = [0]"))),
    "grid-seconds-negative": Case(RUN, "seconds", _suite(_tiny().replace("ipc = [1]", "ipc = [1]\nseconds = [-1]"))),
    "sweep-scalar": Case(RUN, "sweep", _suite(_tiny(**{"+": "[sweep]\nsteps_offset = 5"}))),
    "sweep-lr": Case(RUN, "lr", _suite(_tiny(**{"+": "[sweep]\nlr = [1]"}))),
    "method-losses-unknown": Case(RUN, "nothere", _suite(_tiny(**{"+": '[method_losses]\nnothere = ["ce"]'}))),
    "published-missing": Case(RUN, "published", _suite(_tiny(**{"+": '[[published]]\ndataset = "digits"'}))),
    "name-traversal": Case(RUN, "name", _suite('name = "../../escape_test"\n' + TINY_TOML.split("\n", 1)[1])),
    "name-long": Case(RUN, "name", _suite(f'name = "{"a" * 300}"\n' + TINY_TOML.split("\n", 1)[1])),
    "name-slash": Case(RUN, "name", _suite('name = "a/b"\n' + TINY_TOML.split("\n", 1)[1])),
    "name-empty": Case(RUN, "name", _suite('name = ""\n' + TINY_TOML.split("\n", 1)[1])),
    "name-int": Case(RUN, "name", _suite("name = 5\n" + TINY_TOML.split("\n", 1)[1])),
    "description-table": Case(RUN, "description", _suite('description = {a = 1}\n' + TINY_TOML)),
    # ---- teacher and report
    "teacher-epochs-zero": Case(["teacher", "train", "--epochs", "0"], "epochs"),
    "teacher-lr-nan": Case(["teacher", "train", "--lr", "nan"], "finite"),
    "teacher-batch-zero": Case(["teacher", "train", "--batch-size", "0"], "batch_size"),
    "teacher-dataset": Case(["teacher", "train", "--dataset", "nosuchdata"], "nosuchdata"),
    "report-unknown": Case(["report", "nosuchsuite"], "nosuchsuite"),
    "report-two": Case(["report", "quick", "tiny"], "one SUITE"),
    "report-bad-suite-file": Case(["report", "{case}/s.toml"], "TOML", _suite("name = [")),
}
# The cases that used to end in a traceback also run through a real process.
SUBPROCESS = ("tensors-truncated", "header-not-json", "datasets-int", "param-type", "ipc-huge", "soft-wrong-width")


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and the set of folders), to prove a failed command wrote nothing."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, digits, cpu) -> Path:
    """A store with one record, a cache with its artifact, and a saved artifact under artifacts/."""
    ws = tmp_path_factory.mktemp("ws")
    mp = pytest.MonkeyPatch()
    mp.setenv("DDBENCH_CACHE", str(ws / "cache"))
    load_dataset.cache_clear()  # loaded here, so its split is in this cache whatever loaded digits before
    run_suite(parse_suite({"name": "tiny", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [1],
                                                    "models": ["lenet"], "optimizers": ["adam"]},
                           "eval": {"steps": 2, "batch_size": 16, "val_size": 40}}),
              ws / "reports" / "tiny" / "records", cpu, progress=False)
    mp.undo()
    ds: DistilledSet = run_method("random", digits, Budget(1), 0, cpu)
    ds.save(ws / "artifacts")
    return ws


def _prepare(case: Case, ws: Path, name: str) -> tuple[list[str], Path]:
    if case.skip_root and os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    case_dir = ws / "cases" / name
    case_dir.mkdir(parents=True, exist_ok=True)
    if case.setup:
        case.setup(case_dir)
    art = str(next((ws / "artifacts").glob("*.json")))
    return [a.replace("{case}", str(case_dir)).replace("{ws}", str(ws)).replace("{art}", art) for a in case.argv], case_dir


def _check(rc: int, err: str, case: Case, before: dict[str, str], ws: Path) -> None:
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("ddbench: error:"), err
    assert case.expect.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in err
    assert snapshot(ws) == before, "the command changed the store, cache or artifacts"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_in_process(name: str, workspace: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    argv, _ = _prepare(case, workspace, name)
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("DDBENCH_CACHE", str(workspace / "cache"))
    monkeypatch.setenv("DDBENCH_REPORTS", str(workspace / "reports"))
    before = snapshot(workspace)
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    _check(rc, capsys.readouterr().err, case, before, workspace)


@pytest.mark.parametrize("name", SUBPROCESS)
def test_bad_input_in_a_process(name: str, workspace: Path) -> None:
    case = CASES[name]
    argv, _ = _prepare(case, workspace, name)
    env = {**os.environ, "DDBENCH_CACHE": str(workspace / "cache"), "DDBENCH_REPORTS": str(workspace / "reports"),
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    before = snapshot(workspace)
    out = subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=workspace, env=env, capture_output=True,
                         text=True, timeout=300)
    _check(out.returncode, out.stderr, case, before, workspace)


def test_the_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 60


def test_report_of_a_suite_file_uses_the_suites_name(workspace: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`ddbench report path/x.toml` reads reports/<the suite's name>/records, not reports/<file stem>."""
    case_dir = workspace / "cases" / "report-by-name"
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "other_stem.toml").write_text(TINY_TOML)
    monkeypatch.setenv("DDBENCH_REPORTS", str(workspace / "reports"))
    rc = main(["report", str(case_dir / "other_stem.toml")])
    assert rc == 0, capsys.readouterr().err
    assert (workspace / "reports" / "tiny" / "leaderboard.md").exists()
    assert not (workspace / "reports" / "other_stem").exists()
