"""Property-based tests of the three readers of user files (artifact loader, record reader, suite parser): random
bytes, truncations and mutations never give anything but a UserError (or, for records, a warning and quarantine)
and never write outside the given folder. Also: claim files, and every method's artifact hashing the same twice."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.artifact import DistilledSet, load_artifact
from benchmarks.claims import claim_path, release, try_claim
from benchmarks.errors import UserError
from benchmarks.methods import METHODS, Budget, run_method
from benchmarks.store import CORRUPT_DIR, Store
from benchmarks.suite import load_suite, packaged_suites, parse_suite

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """``data`` truncated to ``cut`` bytes with some bytes replaced."""
    out = bytearray(data[:cut])
    for pos, value in flips:
        if out:
            out[pos % len(out)] = value
    return bytes(out)


MUTATION = st.tuples(st.integers(0, 10_000), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                      max_size=4))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, digits) -> tuple[bytes, bytes, str]:
    """A valid artifact's header bytes, tensor bytes and tensor file name."""
    ds = DistilledSet(digits.train_x[:10], digits.train_y[:10], "hard", 10, meta={"dataset": "digits"})
    header = ds.save(tmp_path_factory.mktemp("art"))
    doc = json.loads(header.read_text())
    return header.read_bytes(), (header.parent / doc["tensors"]).read_bytes(), doc["tensors"]


def _load_in(folder: Path, header: bytes, tensors: bytes, name: str) -> None:
    (folder / "a.json").write_bytes(header)
    (folder / name).write_bytes(tensors)
    before = _tree(folder.parent)
    try:
        load_artifact(folder / "a.json")
    except UserError:
        pass
    assert _tree(folder.parent) == before


@SETTINGS
@given(which=st.sampled_from(["header", "tensors"]), mutation=MUTATION)
def test_artifact_loader_refuses_mutations_with_a_user_error(saved, which, mutation) -> None:
    header, tensors, name = saved
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x").mkdir()
        if which == "header":
            header = _mutate(header, *mutation) if mutation[0] < len(header) else _mutate(header, len(header), mutation[1])
        else:
            tensors = _mutate(tensors, *mutation) if mutation[0] < len(tensors) else _mutate(tensors, len(tensors),
                                                                                            mutation[1])
        _load_in(Path(d) / "x", header, tensors, name)


@SETTINGS
@given(blob=st.binary(max_size=300))
def test_artifact_loader_refuses_random_bytes(saved, blob) -> None:
    header, tensors, name = saved
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x").mkdir()
        _load_in(Path(d) / "x", blob, tensors, name)
        _load_in(Path(d) / "x", header, blob, name)


@pytest.fixture(scope="module")
def record_bytes() -> bytes:
    """A valid stored record (one of the committed quick suite's)."""
    return next(Path(__file__).resolve().parents[1].joinpath("reports", "quick", "records").glob("*.json")).read_bytes()


@SETTINGS
@given(mutation=MUTATION, blob=st.one_of(st.none(), st.binary(max_size=200)))
def test_record_reader_quarantines_what_is_not_a_record(record_bytes, mutation, blob) -> None:
    name = json.loads(record_bytes)["key"] + ".json"
    with tempfile.TemporaryDirectory() as d:
        root, records = Path(d), Path(d) / "records"
        records.mkdir()
        (root / "outside").write_text("untouched")
        data = blob if blob is not None else _mutate(record_bytes, min(mutation[0], len(record_bytes)), mutation[1])
        (records / name).write_bytes(data)
        try:
            found = Store(records).scan()
        except UserError:  # an older schema: `ddbench migrate` is the answer, and nothing moved
            assert (records / name).read_bytes() == data
            return
        if found:
            assert list(found) == [name[:-5]] and (records / name).read_bytes() == data
        else:
            assert not (records / name).exists() and (records / CORRUPT_DIR / name).read_bytes() == data
        assert {p.name for p in root.iterdir()} == {"records", "outside"}
        assert (root / "outside").read_text() == "untouched"


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=True),
                                 st.text(max_size=12)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)
VALID = {"name": "p", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [1], "models": ["lenet"],
                               "optimizers": ["adam"]}, "eval": {"steps": 2}}
PLACES = [("name",), ("description",), ("iterations",), ("grid",), ("eval",), ("methods",), ("sweep",),
          ("published",), ("method_losses",), ("grid", "datasets"), ("grid", "ipc"), ("grid", "seeds"),
          ("grid", "losses"), ("grid", "iterations"), ("eval", "steps"), ("eval", "lr"), ("eval", "lr_grid"),
          ("eval", "weight_decay"), ("eval", "precision"), ("eval", "compile"), ("methods", "random"),
          ("sweep", "steps_offset"), ("method_losses", "random")]


@SETTINGS
@given(place=st.sampled_from(PLACES), value=JSONISH)
def test_suite_parser_refuses_wrong_values_with_a_user_error(place, value) -> None:
    doc = json.loads(json.dumps(VALID))
    target = doc
    for k in place[:-1]:
        target = target.setdefault(k, {})
    target[place[-1]] = value
    try:
        parse_suite(doc)
    except UserError:
        pass


@SETTINGS
@given(mutation=MUTATION)
def test_suite_loader_refuses_mutated_files_with_a_user_error(mutation) -> None:
    text = packaged_suites()["quick"].read_bytes()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.toml"
        path.write_bytes(_mutate(text, min(mutation[0], len(text)), mutation[1]))
        try:
            load_suite(str(path))
        except UserError:
            pass
        assert [p.name for p in Path(d).iterdir()] == ["s.toml"]


# ---- claim files -------------------------------------------------------------------------------------

def test_a_claim_is_exclusive_released_and_taken_over_from_a_dead_process(tmp_path: Path) -> None:
    mine = try_claim(tmp_path, "g1")
    assert mine == claim_path(tmp_path, "g1") and try_claim(tmp_path, "g1") == mine  # this process may re-enter
    release(mine)
    assert not mine.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    claim_path(tmp_path, "g2").write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    assert try_claim(tmp_path, "g2") is not None  # stale: its process is gone
    claim_path(tmp_path, "g3").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))
    assert try_claim(tmp_path, "g3") is None  # a live process holds it


# ---- artifact determinism ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS.names())
def test_the_same_artifact_gets_the_same_hash_every_time(method: str, digits, cpu) -> None:
    entry = METHODS.get(method)
    first = run_method(method, digits, Budget(2), 0, cpu, entry.smoke)
    second = run_method(method, digits, Budget(2), 0, cpu, entry.smoke)
    assert first.content_hash() == second.content_hash()
