"""The local executor (a pool of spawned worker processes) on real digits: the same records as the in-process
executor, failures pinned to their cells, bad options refused."""

from __future__ import annotations

import pytest
import torch

from benchmarks.driver import run_suite
from benchmarks.errors import UserError
from benchmarks.executors import make_executor
from benchmarks.store import Store
from benchmarks.suite import parse_suite

RUN_FIELDS = ("cost", "provenance", "execution")  # timing, cost and where it ran: not the cell's result


def _suite(methods: list[str], params: dict | None = None):
    return parse_suite({"name": "local", "grid": {"datasets": ["digits"], "methods": methods, "ipc": [1],
                                                  "models": ["convnet3_w32"], "optimizers": ["adam", "momentum"],
                                                  "seeds": [0, 1]},
                        "eval": {"steps": 6, "batch_size": 10, "precision": "fp32", "compile": False},
                        "methods": params or {}})


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))  # the spawned workers inherit it


def test_records_equal_the_in_process_executor_cell_for_cell(tmp_path, cpu):
    suite = _suite(["random", "soft_random"], {"soft_random": {"teacher_model": "convnet3_w32", "teacher_epochs": 1}})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers train with one thread each; so does the reference
    try:
        here = run_suite(suite, tmp_path / "inprocess", cpu, progress=False)
    finally:
        torch.set_num_threads(threads)
    there = run_suite(suite, tmp_path / "local", "cpu", progress=False,
                      executor=make_executor("local", workers=2, threads=1))
    assert here == there == {"cells": 8, "stored": 0, "not_selected": 0, "ok": 8, "error": 0, "other": 0}
    a, b = Store(tmp_path / "inprocess").scan(), Store(tmp_path / "local").scan()
    assert a.keys() == b.keys()
    strip = lambda r: {k: v for k, v in r.items() if k not in RUN_FIELDS}  # noqa: E731
    assert all(strip(a[k]) == strip(b[k]) for k in a)
    assert {r["provenance"]["threads"] for r in b.values()} == {1}


def test_a_failed_distillation_fails_only_its_cells(tmp_path):
    suite = _suite(["soft_random", "rded"], {m: {"teacher_model": "convnet3_w32", "teacher_epochs": 1}
                                             for m in ("soft_random", "rded")}
                   | {"rded": {"teacher_model": "convnet3_w32", "teacher_epochs": 1, "factor": 5}})  # 16 % 5: refused
    counts = run_suite(suite, tmp_path / "records", "cpu", progress=False,
                       executor=make_executor("local", workers=2, threads=1))
    assert counts["ok"] == 4 and counts["error"] == 4
    records = Store(tmp_path / "records").scan().values()
    assert {r["config"]["method"] for r in records if r["status"] == "error"} == {"rded"}
    assert all("positive divisor" in r["error"] for r in records if r["status"] == "error")


def test_bad_options_and_a_gpu_device_are_refused(tmp_path):
    with pytest.raises(UserError, match="--workers"):
        make_executor("local", workers=-1)
    suite = _suite(["random"])
    from benchmarks.driver import plan

    runs = make_executor("local").run(suite, plan(suite, Store(tmp_path)).groups, "cuda", None)
    with pytest.raises(UserError, match="GPU"):
        next(runs)
