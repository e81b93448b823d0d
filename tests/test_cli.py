import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import load_commands, main
from benchmarks.commandline import COMMANDS
from benchmarks.commands import LISTS


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)


@pytest.mark.parametrize(("args", "needle"), [
    (["distill", "randm"], "did you mean 'random'"),
    (["distill", "random", "--dataset", "mnst"], "did you mean 'mnist'"),
    (["distill", "random", "--param", "oops"], "key=value"),
    (["distill", "dm", "--dataset", "digits", "--seconds", "0"], "seconds budget must be positive"),
    (["evaluate", "no/such/artifact.json"], "no artifact"),
    (["run", "quik"], "did you mean 'quick'"),
    (["list", "modles"], "invalid choice"),
    (["distill", "random", "--ipc", "ten"], "invalid int value"),
    (["run", "quick", "--shard", "2/2"], "K must be in"),
    (["teacher", "train", "--model", "lenett"], "did you mean 'lenet'"),
    (["run", "quick", "--shard", "half"], "K/N"),
])
def test_user_mistakes_give_one_line_and_exit_2(args, needle, tmp_path):
    p = run_cli(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ddbench: error:"), p.stderr
    assert needle in lines[0]
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("what", LISTS)
def test_list(what, capsys):
    assert main(["list", what]) == 0
    assert capsys.readouterr().out.strip()


def test_distill_then_evaluate(tmp_path, capsys):
    assert main(["distill", "random", "--dataset", "digits", "--ipc", "2", "--out", str(tmp_path), "--device", "cpu"]) == 0
    art = next(tmp_path.glob("*.json"))
    capsys.readouterr()
    assert main(["evaluate", str(art), "--model", "convnet3_w32", "--optimizer", "adam", "--steps", "10",
                 "--batch-size", "10", "--device", "cpu", "--loss", "kl", "--loss-param", "T=2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["loss"] == {"name": "kl", "params": {"T": 2, "t2": False}}
    assert 0 <= out["metrics"]["test_acc"] <= 100


def test_run_and_report_a_suite_file(tmp_path, capsys):
    suite = tmp_path / "mini.toml"
    suite.write_text('[grid]\ndatasets = ["digits"]\nmethods = ["random"]\nipc = [1]\nmodels = ["lenet"]\n'
                     'optimizers = ["adam"]\nseeds = [0]\n[eval]\nsteps = 5\nbatch_size = 10\n')
    out = tmp_path / "rep"
    assert main(["run", str(suite), "--report-dir", str(out), "--no-progress", "--device", "cpu"]) == 0
    assert (out / "leaderboard.md").exists() and len(list((out / "records").glob("*.json"))) == 1
    assert main(["report", str(suite), "--report-dir", str(out)]) == 0


def test_shards_split_a_suite_without_overlap(tmp_path):
    suite = tmp_path / "mini.toml"
    suite.write_text('[grid]\ndatasets = ["digits"]\nmethods = ["random"]\nipc = [1, 2, 3]\nmodels = ["lenet"]\n'
                     'optimizers = ["adam"]\nseeds = [0, 1]\n[eval]\nsteps = 3\nbatch_size = 10\n')
    out = tmp_path / "rep"
    counts = []
    for k in (0, 1):
        assert main(["run", str(suite), "--report-dir", str(out), "--no-progress", "--device", "cpu",
                     "--shard", f"{k}/2", "--no-report"]) == 0
        counts.append(len(list((out / "records").glob("*.json"))))
    assert counts == [3, 6]  # six artifacts, three per shard, together the whole suite


def test_a_shard_runs_beside_another_holding_the_same_groups_other_seeds(tmp_path):
    """Seeds of one group are claimed per artifact: shard 1 does not wait for shard 0's live claim."""
    import socket

    from benchmarks.driver import _claim_key
    from benchmarks.suite import load_suite

    suite = tmp_path / "mini.toml"
    suite.write_text('[grid]\ndatasets = ["digits"]\nmethods = ["random"]\nipc = [1]\nmodels = ["lenet"]\n'
                     'optimizers = ["adam"]\nseeds = [0, 1]\n[eval]\nsteps = 3\nbatch_size = 10\n')
    cells = load_suite(str(suite)).cells()
    assert len({c.distill_key for c in cells}) == 2 and len({_claim_key(c) for c in cells}) == 2
    records = tmp_path / "rep" / "records"
    records.mkdir(parents=True)
    held = next(c for c in cells if c.distill_seed == 0)  # shard 0's artifact, as a live run elsewhere holds it
    (records / f".{_claim_key(held)}.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": 1}))
    assert main(["run", str(suite), "--report-dir", str(tmp_path / "rep"), "--no-progress", "--device", "cpu",
                 "--shard", "1/2", "--no-report"]) == 0
    assert [json.loads(p.read_text())["config"]["seed"] for p in records.glob("*.json")] == [1]


def test_an_artifact_another_run_is_distilling_is_left_to_it_while_other_artifacts_run(tmp_path, cpu, monkeypatch):
    """Groups on other architectures share an artifact: while a live run distils it, this run takes the other
    artifacts' cells first and comes back to it, instead of distilling it a second time beside that run."""
    import socket

    from benchmarks.driver import _distilling_key, run_suite
    from benchmarks.suite import parse_suite

    suite = parse_suite({"name": "mini", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [1],
                                                  "models": ["lenet", "convnet3_w32"], "optimizers": ["adam"],
                                                  "seeds": [0, 1]}, "eval": {"steps": 3, "batch_size": 10}})
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))  # neither set is cached yet
    records = tmp_path / "records"
    records.mkdir()
    other = records / f".{_distilling_key(next(c for c in suite.cells() if c.distill_seed == 0))}.claim"
    other.write_text(json.dumps({"host": socket.gethostname(), "pid": 1}))  # a live run distilling seed 0's set
    order: list[tuple[str, int]] = []

    def stored(record: dict) -> None:
        order.append((record["config"]["eval"]["model"], record["config"]["seed"]))
        if len(order) == 2:
            other.unlink()  # that run is done with it

    run_suite(suite, records, cpu, progress=False, on_record=stored)
    assert sorted(order[:2]) == [("convnet3_w32", 1), ("lenet", 1)] and sorted(order[2:]) == [("convnet3_w32", 0),
                                                                                                ("lenet", 0)]
    assert not list(records.glob(".*.claim"))


def test_a_run_removes_the_claims_killed_runs_left_on_stored_cells(tmp_path):
    """A run killed after storing a group's records (or caching the artifact it claimed to distil, or mid-search)
    leaves claims that no later run takes over, having nothing left to claim; the next run's end removes them, and
    only them."""
    import socket
    import subprocess
    import sys

    from benchmarks.driver import _claim_key
    from benchmarks.suite import load_suite
    from benchmarks.tuning import tuning_folder

    suite = tmp_path / "mini.toml"
    suite.write_text('[grid]\ndatasets = ["digits"]\nmethods = ["random"]\nipc = [1]\nmodels = ["lenet"]\n'
                     'optimizers = ["adam"]\nseeds = [0]\n[eval]\nsteps = 3\nbatch_size = 10\n')
    flags = ["--report-dir", str(tmp_path / "rep"), "--no-progress", "--device", "cpu", "--no-report"]
    assert main(["run", str(suite), *flags]) == 0
    records = tmp_path / "rep" / "records"
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    host = socket.gethostname()
    stale = records / f".{_claim_key(load_suite(str(suite)).cells()[0])}.claim"
    kept = {"live": {"host": host, "pid": 1}, "elsewhere": {"host": host + "-other", "pid": dead}}
    stale.write_text(json.dumps({"host": host, "pid": dead}))
    for name, holder in kept.items():
        (records / f".{name}.claim").write_text(json.dumps(holder))
    searches = tuning_folder()
    searches.mkdir(parents=True, exist_ok=True)
    (searches / ".killed-search.claim").write_text(json.dumps({"host": host, "pid": dead}))
    (searches / ".live-search.claim").write_text(json.dumps({"host": host, "pid": 1}))
    assert main(["run", str(suite), *flags]) == 0  # nothing left to run
    assert sorted(p.name for p in records.glob(".*.claim")) == [".elsewhere.claim", ".live.claim"]
    assert sorted(p.name for p in searches.glob(".*.claim")) == [".live-search.claim"]


def _mini_run(tmp_path, models: str, seeds: str) -> tuple[Path, Path, list[str]]:
    """A two-method digits suite (random and full) of ``models`` and ``seeds``: its file, output folder and flags."""
    suite = tmp_path / "mini.toml"
    suite.write_text(f'[grid]\ndatasets = ["digits"]\nmethods = ["random", "full"]\nipc = [1]\nmodels = {models}\n'
                     f'optimizers = ["adam"]\nseeds = {seeds}\n[eval]\nsteps = 3\nbatch_size = 10\n')
    out = tmp_path / "rep"
    return suite, out, ["--report-dir", str(out), "--no-progress", "--device", "cpu", "--no-report"]


def test_methods_runs_only_the_named_rows_and_leaves_the_rest(tmp_path, capsys):
    suite, out, common = _mini_run(tmp_path, '["lenet"]', "[0, 1]")
    assert main(["run", str(suite), "--methods", "random", "--shard", "1/2", *common]) == 0
    assert main(["run", str(suite), "--methods", "random", *common]) == 0  # shards split random's two sets alone
    assert "1 ran ok" in capsys.readouterr().out.splitlines()[-1]
    records = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    assert sorted((r["config"]["method"], r["config"]["seed"]) for r in records) == [("random", 0), ("random", 1)]
    assert main(["run", str(suite), *common]) == 0
    assert "2 already stored, 2 ran ok" in capsys.readouterr().out


def test_models_runs_only_the_named_columns_and_leaves_the_rest(tmp_path, capsys):
    suite, out, common = _mini_run(tmp_path, '["lenet", "convnet3_w32"]', "[0]")
    assert main(["run", str(suite), "--models", "lenet", *common]) == 0
    assert "2 left for another run" in capsys.readouterr().out
    records = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    assert sorted((r["config"]["method"], r["config"]["eval"]["model"]) for r in records) == [("full", "lenet"),
                                                                                              ("random", "lenet")]
    assert main(["run", str(suite), "--models", "convnet3_w32", "--methods", "full", *common]) == 0
    assert "2 already stored, 1 ran ok, 0 failed, 1 left for another run" in capsys.readouterr().out


def test_cached_only_evaluates_just_the_cells_whose_artifact_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    body = 'methods = ["random"]\nmodels = ["lenet"]\noptimizers = ["adam"]\n[eval]\nsteps = 3\nbatch_size = 10\n'
    small, big = tmp_path / "small.toml", tmp_path / "big.toml"
    small.write_text('[grid]\ndatasets = ["digits"]\nipc = [1]\n' + body)
    big.write_text('[grid]\ndatasets = ["digits"]\nipc = [1, 2]\n' + body)
    common = ["--no-progress", "--device", "cpu", "--no-report"]
    assert main(["run", str(big), "--report-dir", str(tmp_path / "a"), "--cached-only", *common]) == 0
    assert not list((tmp_path / "a" / "records").glob("*.json"))  # nothing cached yet: nothing ran
    assert main(["run", str(small), "--report-dir", str(tmp_path / "b"), *common]) == 0
    assert main(["run", str(big), "--report-dir", str(tmp_path / "a"), "--cached-only", *common]) == 0
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "a" / "records").glob("*.json")]
    assert rec["config"]["ipc"] == 1


def test_teacher_train_then_list(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path))
    assert main(["teacher", "train", "--dataset", "digits", "--model", "convnet3_w32", "--epochs", "1",
                 "--device", "cpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["dataset"] == "digits" and record["classes"] == [str(c) for c in range(10)]
    assert main(["teacher", "list"]) == 0
    assert record["key"] in capsys.readouterr().out


def test_version_prints_the_package_version(tmp_path):
    from importlib.metadata import version

    p = run_cli("--version", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == f"ddbench {version('ddbench')}"


def test_list_without_a_kind_names_the_kinds_and_fits_100_columns(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(kind in out for kind in LISTS)
    assert main(["list", "methods"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 100


HEAVY = ("timm", "torchvision", "kornia", "pandas", "scipy", "matplotlib")
load_commands()  # the report commands too, so every registered command is checked below


@pytest.mark.parametrize("command", [None, *COMMANDS.names()])
def test_every_command_declares_its_help_without_loading_a_model_zoo_or_plotting_library(command):
    """``ddbench --help`` (every command declared) and each command's own help exit 0, and the libraries a command's
    run needs load only when it runs (``ddbench --help`` took 5.8 CPU s with them, 2.2 without; torch alone 2.0)."""
    argv = ([command] if command else []) + ["--help"]
    code = ("import sys\nfrom benchmarks.cli import build_parser\ntry:\n    build_parser(sys.argv[1:]).parse_args(sys.argv[1:])\n"
            f"except SystemExit as e:\n    print(e.code, sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"  # after the help text
