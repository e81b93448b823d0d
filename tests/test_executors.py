"""Executors without Ray running: the registry, the in-process executor, a missing Ray, failures that cross processes."""

from __future__ import annotations

import pickle
import sys

import pytest

from benchmarks.driver import plan
from benchmarks.errors import UserError
from benchmarks.executors import make_executor
from benchmarks.runner import DistillationFailed
from benchmarks.store import Store
from benchmarks.suite import parse_suite

TINY = {"name": "tiny", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [1], "models": ["convnet3_w32"],
                                 "optimizers": ["adam"], "seeds": [0, 1]},
        "eval": {"steps": 3, "batch_size": 10, "precision": "fp32", "compile": False}}


def test_in_process_executor_yields_each_planned_cell_once(tmp_path):
    suite = parse_suite(TINY)
    groups = plan(suite, Store(tmp_path)).groups
    out = list(make_executor("inprocess").run(suite, groups, "cpu", None))
    assert [c.key for c, _ in out] == [c.key for g in groups for c in g]
    assert all(r["key"] == c.key and r["status"] == "ok" for c, r in out)
    assert not list(tmp_path.iterdir())  # the executor writes nothing; the driver stores


def test_unknown_executor_and_bad_resources_are_user_errors():
    with pytest.raises(UserError, match="executor"):
        make_executor("slurm")
    with pytest.raises(UserError, match="--num-cpus"):
        make_executor("ray", num_cpus=0)


def test_missing_ray_is_one_clear_line(monkeypatch):
    from benchmarks.executors.ray_executor import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray looks like to `import ray`
    with pytest.raises(UserError, match=r"pip install -e '\.\[ray\]'"):
        import_ray(local=True)


def test_cuda_with_ray_needs_gpus_declared(tmp_path):
    suite = parse_suite(TINY)
    runs = make_executor("ray").run(suite, plan(suite, Store(tmp_path)).groups, "cuda", None)
    with pytest.raises(UserError, match="--num-gpus"):
        next(runs)


def test_a_distillation_failure_keeps_its_message_across_processes():
    try:
        raise OSError("disk full")
    except OSError as e:
        failed = DistillationFailed(e)
    back = pickle.loads(pickle.dumps(failed))
    assert str(back) == str(failed) and "disk full" in str(back) and isinstance(back.cause, OSError)
