"""The Ray executor on a real two-node Ray cluster bound to 127.0.0.1 (slow: ~2-4 min on 2 CPU cores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.driver import run_suite
from benchmarks.executors.ray_executor import LOOPBACK_ENV, RayExecutor
from benchmarks.store import Store
from benchmarks.suite import parse_suite

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RUN_FIELDS = ("cost", "provenance", "execution")  # timing, cost and where it ran: not the cell's result


def tiny(ipc: int, steps: int, models: tuple[str, ...] = ("convnet3_w32",)) -> dict:
    return {"name": f"ray{ipc}", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [ipc],
                                          "models": list(models), "optimizers": ["adam", "momentum"],
                                          "seeds": [0, 1]},
            "eval": {"steps": steps, "batch_size": 20, "precision": "fp32", "compile": False}}


def to_toml(doc: dict) -> str:
    lines = [f'name = "{doc["name"]}"', "[grid]"]
    lines += [f"{k} = {list(v)!r}".replace("'", '"') for k, v in doc["grid"].items()]
    lines += ["[eval]", f"steps = {doc['eval']['steps']}", "batch_size = 20", 'precision = "fp32"', "compile = false"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def cluster():
    os.environ[LOOPBACK_ENV] = "0"  # every Ray process of the test binds to 127.0.0.1
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, log_to_driver=False)
    assert c.address.startswith("127.0.0.1:") and len(ray.nodes()) == 2
    yield c
    ray.shutdown()
    c.shutdown()


def _result(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in RUN_FIELDS}


def test_records_equal_the_in_process_executor_cell_for_cell(cluster, tmp_path, cpu):
    import torch

    suite = parse_suite(tiny(2, 15))
    torch.set_num_threads(1)  # workers train with one thread each; so does the reference
    here = run_suite(suite, tmp_path / "inprocess", cpu, progress=False)
    there = run_suite(suite, tmp_path / "ray", "cpu", progress=False,
                      executor=RayExecutor(address=cluster.address, shared_cache=str(tmp_path / "shared")))
    assert here == there == {"cells": 4, "stored": 0, "not_selected": 0, "ok": 4, "error": 0, "other": 0}
    a, b = Store(tmp_path / "inprocess").scan(), Store(tmp_path / "ray").scan()
    assert a.keys() == b.keys()
    assert all(_result(a[k]) == _result(b[k]) for k in a)
    assert any((tmp_path / "shared" / "artifacts").iterdir())  # the workers distilled into the shared folder


def _ray_workers_running(task: str) -> list:
    """Live (not zombie, not gone) child processes whose command line names ``task``."""
    import psutil

    running = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and task in " ".join(p.cmdline()):
                running.append(p)
        except (psutil.ZombieProcess, psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a worker that exited (or is exiting) between the listing and the look
    return running


def test_a_worker_killed_mid_run_loses_and_duplicates_no_cell(cluster, tmp_path):
    suite = parse_suite(tiny(3, 400))
    seen: list[str] = []
    killed: list[int] = []

    def kill_one_evaluation() -> None:
        deadline = time.time() + 120
        while not killed and time.time() < deadline:
            for p in _ray_workers_running("ddbench-evaluate"):
                os.kill(p.pid, signal.SIGKILL)
                killed.append(p.pid)
                break
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_evaluation)
    killer.start()
    counts = run_suite(suite, tmp_path, "cpu", progress=False, on_record=lambda r: seen.append(r["key"]),
                       executor=RayExecutor(address=cluster.address))
    killer.join()
    assert killed, "no evaluation worker was found to kill"
    n = len(suite.cells())
    assert counts["ok"] == n and sorted(seen) == sorted({c.key for c in suite.cells()})  # each cell exactly once
    assert len(Store(tmp_path).scan()) == n


def test_a_killed_driver_restarts_without_redoing_stored_cells(cluster, tmp_path):
    doc = tiny(4, 150, ("convnet3_w32", "lenet"))  # 4 groups on 2 workers: records arrive in 2 waves
    path = tmp_path / "ray4.toml"
    path.write_text(to_toml(doc))
    records = tmp_path / "records"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "benchmarks", "run", str(path), "--executor", "ray",
                               "--address", cluster.address, "--records-dir", str(records), "--no-report",
                               "--no-progress"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list(records.glob("*.json")) and time.time() < deadline and driver.poll() is None:
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = {p.name: p.read_bytes() for p in records.glob("*.json")}
    n = len(parse_suite(doc).cells())
    assert 0 < len(before) < n, "the driver was not killed mid-run"
    counts = run_suite(parse_suite(doc), records, "cpu", progress=False, executor=RayExecutor(address=cluster.address))
    assert counts == {"cells": n, "stored": len(before), "not_selected": 0, "ok": n - len(before), "error": 0,
                      "other": 0}
    assert all((records / name).read_bytes() == data for name, data in before.items())  # nothing redone
    assert len(Store(records).scan()) == n


class Interrupt(KeyboardInterrupt):
    pass


def test_ctrl_c_cancels_outstanding_tasks_and_keeps_what_was_stored(cluster, tmp_path):
    suite = parse_suite(tiny(5, 300, ("convnet3_w32", "lenet")))

    def interrupt(record: dict) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        run_suite(suite, tmp_path, "cpu", progress=False, on_record=interrupt,
                  executor=RayExecutor(address=cluster.address))
    assert len(Store(tmp_path).scan()) == 1  # the record stored before the interrupt is kept
    deadline = time.time() + 30
    while _ray_workers_running("ddbench-") and time.time() < deadline:
        time.sleep(0.5)
    assert not _ray_workers_running("ddbench-"), "tasks kept running after the interrupt"


def test_workers_train_at_the_fair_protocol_choices_the_stored_records_carry(cluster, tmp_path, cpu, monkeypatch):
    """A suite continued on a cluster whose workers' caches lack its choices: they come from the stored records
    (one search task per architecture hands them on), shown by a length no search could have chosen."""
    import json

    doc = {"name": "rayfair", "grid": {"datasets": ["digits"], "methods": ["random", "herding"], "ipc": [2],
                                       "models": ["lenet"], "optimizers": ["adam"], "seeds": [0]},
           "eval": {"steps": 15, "batch_size": 20, "val_size": 200, "precision": "fp32", "compile": False,
                    "lr_per_architecture": True, "max_steps": 45}}
    suite = parse_suite(doc)
    records = tmp_path / "records"
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "driver-a"))  # the driver's caches, not the workers'
    run_suite(suite, records, cpu, progress=False, methods=["random"])
    (path,) = records.glob("*.json")
    stored = json.loads(path.read_text())
    stored["metrics"]["steps_tuning"]["steps"] = 30  # the search tries 15 and 45 only
    path.write_text(json.dumps(stored))
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "driver-b"))
    counts = run_suite(suite, records, "cpu", progress=False, executor=RayExecutor(address=cluster.address))
    assert counts["ok"] == 1
    (herding,) = [r for r in Store(records).scan().values() if r["config"]["method"] == "herding"]
    assert herding["metrics"]["steps"] == 30 and herding["metrics"]["lr_tuning"] == stored["metrics"]["lr_tuning"]


def test_the_driver_keeps_each_search_the_cluster_makes_in_the_records_folder(cluster, tmp_path, monkeypatch):
    """Searched on a worker, kept by the driver as the search task ends: the records folder's ``tuning`` holds
    the choices the records were trained at."""
    import json

    from benchmarks.tuning import KEPT, kept_choices

    doc = {"name": "raykept", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [2],
                                       "models": ["lenet"], "optimizers": ["adam"], "seeds": [0]},
           "eval": {"steps": 15, "batch_size": 20, "val_size": 200, "precision": "fp32", "compile": False,
                    "lr_per_architecture": True, "max_steps": 45}}
    records = tmp_path / "records"
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "driver"))
    counts = run_suite(parse_suite(doc), records, "cpu", progress=False, executor=RayExecutor(address=cluster.address))
    assert counts["ok"] == 1
    (path,) = records.glob("*.json")
    metrics = json.loads(path.read_text())["metrics"]
    kept = {c["key"]: c for c in kept_choices(records / KEPT)}
    assert kept == {c["key"]: c for c in (metrics["lr_tuning"], metrics["steps_tuning"])}
