"""Fault injection (slow; `pytest -m slow tests/test_faults.py`): `ddbench run` killed with SIGKILL at random points
and resumed ends with the same store as an uninterrupted run; a full disk ends the run with one line and leaves
the store valid; two unsharded runs at once compute each cell once; two fresh processes store identical records."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.store import CORRUPT_DIR, Store

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SUITE = """name = "faults"
[grid]
datasets = ["digits"]
methods = ["random", "ld_rr"]
ipc = [1]
models = ["lenet"]
optimizers = ["adam", "momentum"]
seeds = [0, 1]
[eval]
steps = 3
batch_size = 16
val_size = 40
[methods.ld_rr]
iterations = 3
val_size = 40
"""
MACHINE_FIELDS = ("cost", "provenance")  # timing, cost and provenance differ between runs by design


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "faults.toml"
    path.write_text(SUITE)
    return path


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "DDBENCH_CACHE": str(cache), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
            "DDBENCH_THREADS": "1"}


def _start(suite: Path, records: Path, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks", "run", str(suite), "--records-dir", str(records),
                             "--no-report", "--no-progress"], env=_env(cache), cwd=suite.parent, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _comparable(records: Path) -> dict[str, dict]:
    """Every record without its machine-dependent fields, by key; the folder must hold nothing else."""
    files = sorted(p.name for p in records.iterdir())
    assert all(f.endswith(".json") for f in files), files  # no temp files, no claims, nothing quarantined
    out = {}
    for p in records.glob("*.json"):
        doc = json.loads(p.read_text())
        out[p.stem] = {k: v for k, v in doc.items() if k not in MACHINE_FIELDS}
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The store of one uninterrupted run in a fresh process (and fresh cache)."""
    tmp = tmp_path_factory.mktemp("ref")
    proc = _start(_suite(tmp), tmp / "records", tmp / "cache")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return _comparable(tmp / "records")


def test_two_fresh_processes_store_identical_records(reference, tmp_path: Path) -> None:
    proc = _start(_suite(tmp_path), tmp_path / "records", tmp_path / "cache")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert _comparable(tmp_path / "records") == reference
    threads = {json.loads(p.read_text())["provenance"]["threads"] for p in (tmp_path / "records").glob("*.json")}
    assert threads == {1}


def test_killed_at_random_points_and_resumed_the_store_equals_an_uninterrupted_run(reference, tmp_path: Path) -> None:
    rng = random.Random(17)
    suite, records, cache = _suite(tmp_path), tmp_path / "records", tmp_path / "cache"
    for _ in range(4):
        proc = _start(suite, records, cache)
        time.sleep(rng.uniform(2.0, 12.0))  # start-up, distilling, caching or evaluating
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        Store(records).scan()  # whatever was left must read back (a bad file would be quarantined)
        assert not (records / CORRUPT_DIR).exists()
    proc = _start(suite, records, cache)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    for stale in records.glob(".*.claim"):  # a killed run's claim is stale; the resumed run took it over
        pytest.fail(f"claim left behind: {stale}")
    for tmp in records.glob(".*.tmp*"):  # a kill during a write may leave its temporary file: never a record
        tmp.unlink()
    assert _comparable(records) == reference


def test_a_full_disk_ends_the_run_with_one_line_and_a_valid_store(tmp_path: Path, monkeypatch, capsys) -> None:
    import benchmarks.store as store_module

    real = store_module.write_json_atomic
    writes = []

    def fill_up(path: Path, doc: object) -> None:
        if len(writes) == 2:  # the third record finds the disk full, half way through its temporary file
            path.with_name(f".{path.name}.tmp{os.getpid()}").write_text("{\"key\": ")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        writes.append(path)
        real(path, doc)

    monkeypatch.setattr(store_module, "write_json_atomic", fill_up)
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    records = tmp_path / "records"
    rc = main(["run", str(_suite(tmp_path)), "--records-dir", str(records), "--no-report", "--no-progress"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert set(Store(records).scan()) == {p.stem for p in writes}  # two whole records, nothing quarantined
    assert not list(records.glob(".*.claim"))


def test_two_unsharded_runs_at_once_compute_each_cell_once(tmp_path: Path) -> None:
    suite, records, cache = _suite(tmp_path), tmp_path / "records", tmp_path / "cache"
    procs = [_start(suite, records, cache) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    ran = [int(o[0].split(" ran ok")[0].rsplit(", ", 1)[-1]) for o in outs]
    n = len(list(records.glob("*.json")))
    assert n == 8 and sum(ran) == n, outs  # every cell stored once, by one of the two
    assert not list(records.glob(".*.claim"))
