"""The shape of the code, checked: one-way imports, no import circles, small modules and functions, and a new
method that needs nothing but its own file."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmarks", "methods", "baselines", "reports")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_MODULE_REASON = "Why this module is long:"  # a module over the limit says why in its docstring


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            if "records" in p.parts:
                continue
            parts = p.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``name`` imports (top level and inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known]
            # `from pkg import submodule` imports the submodule; anything else is taken from the module itself
            targets = subs if len(subs) == len(node.names) else [node.module, *subs]
        found |= {t for t in targets if t in known}
    return found - {name}


MODULES = _modules()
GRAPH = {m: _imports(m, p, set(MODULES)) for m, p in MODULES.items()}


def test_the_graph_sees_the_imports():
    assert "benchmarks.spec" in GRAPH["benchmarks.evaluator"] and "benchmarks.training" in GRAPH["benchmarks.evaluator"]


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_harness_imports_no_plugin_and_no_report():
    """benchmarks/ (the harness) never imports methods/, baselines/ or reports/; benchmarks/perf holds measurement
    scripts, not harness code, and may time a method."""
    bad = [(m, t) for m, ts in GRAPH.items() for t in ts
           if _top(m) == "benchmarks" and not m.startswith("benchmarks.perf") and _top(t) != "benchmarks"]
    assert bad == []


def test_methods_and_baselines_do_not_import_each_other_or_reports():
    bad = [(m, t) for m, ts in GRAPH.items() for t in ts
           if _top(m) in ("methods", "baselines") and _top(t) != "benchmarks" and _top(t) != _top(m)]
    assert bad == []


def test_no_import_circle():
    state: dict[str, int] = {}
    circles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                circles.append(path[path.index(t):] + [t] if t in path else [m, t])
            elif t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert circles == []


def test_modules_and_functions_stay_small():
    long_modules, long_functions = [], []
    for name, path in MODULES.items():
        src = path.read_text()
        tree = ast.parse(src)
        if src.count("\n") > MAX_MODULE_LINES and LONG_MODULE_REASON not in (ast.get_docstring(tree) or ""):
            long_modules.append(name)
        long_functions += [f"{name}.{n.name} ({n.end_lineno - n.lineno + 1})" for n in ast.walk(tree)
                           if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                           and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert long_modules == [] and long_functions == []


PLUGIN = '''
"""A method added by a test: one file, nothing else edited."""

import torch

from benchmarks.artifact import DistilledSet
from benchmarks.methods import Budget, register_method
from benchmarks.selection import per_class


@register_method("zz_first_images", smoke={"offset": 0}, offset=1,
                 description="the first ipc images of every class (a test plug-in)")
def first_images(data, budget: Budget, seed: int, device: torch.device, offset: int) -> DistilledSet:
    return per_class(data, budget.ipc, lambda c, idx: idx[offset:])
'''


@pytest.fixture
def plugin_file():
    path = REPO / "methods" / "zz_test_plugin.py"
    path.write_text(PLUGIN)
    yield path
    path.unlink()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_a_new_method_file_is_listed_runs_in_a_suite_and_is_tested(plugin_file, tmp_path):
    listed = _cli("list", "methods", cwd=tmp_path)
    assert listed.returncode == 0 and "zz_first_images" in listed.stdout
    suite = tmp_path / "plug.toml"
    suite.write_text(textwrap.dedent("""
        [grid]
        datasets = ["digits"]
        methods = ["zz_first_images"]
        ipc = [1]
        models = ["lenet"]
        optimizers = ["adam"]
        [eval]
        steps = 3
        batch_size = 10
    """))
    ran = _cli("run", str(suite), "--report-dir", str(tmp_path / "rep"), "--no-progress", "--device", "cpu",
               "--no-report", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "rep" / "records").glob("*.json")]
    assert record["status"] == "ok" and record["config"]["method"] == "zz_first_images"
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                str(REPO / "tests" / "test_methods.py")], capture_output=True, text=True,
                               cwd=REPO, timeout=300)
    assert "test_every_method_makes_an_artifact_the_evaluator_trains_on[zz_first_images]" in collected.stdout


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("benchmarks.perf.")))
def test_measurement_scripts_still_import(module):
    """Nothing imports the perf scripts, so this is what keeps them in step with the harness."""
    import importlib

    importlib.import_module(module)
