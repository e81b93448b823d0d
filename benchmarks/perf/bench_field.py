"""The evaluator against the field's own loop, as users meet it: per fresh process, per cell within a run, and
in CPU seconds.

``python -m benchmarks.perf.bench_field --dc-code PATH`` trains, for each setting (model:ipc on MNIST random
real images, ``--n`` sets), DatasetCondensation's own ``evaluate_synset`` (``benchmarks.perf.dc_worker``, run
from the local copy of its code at PATH, never vendored) beside ``ddbench evaluate`` with the same recipe
(SGD 0.01, momentum 0.9, wd 5e-4 on every parameter, Epoch + 1 epochs, x0.1 after epoch Epoch//2 + 1, batch
256, no augmentation). Models DC's code does not have (timm) use ``benchmarks/perf/reference.py``'s loop,
labelled as such. Three figures per setting, both sides at ``--threads``, order alternated:

- fresh process: one child process per model (start-up, data, compile and test included), n pairs;
- within a run: one child process trains all n models, as a suite's cells do; wall / n, and the mean of the
  models after the first as each was timed inside the child (``steady``: a cell of a long suite run, where the
  process start-up and compiling the first model paid are spread over many cells);
- CPU seconds of the children (user + system), for both.

ddbench's first fresh process runs with an empty torch.compile cache (``cold``); the others find the cache
the first one filled, as a user's second command does. Results go to ``--out`` (JSON + a markdown table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.perf.dc_worker import DC_MODELS

PY = sys.executable
SETTINGS = ["convnet3:1", "convnet3:10", "convnet3:50", "lenet:10", "resnet10t:10"]


def recipe(epochs: int) -> dict[str, Any]:
    """``ddbench evaluate`` flags reproducing ``evaluate_synset`` with epoch_eval_train = ``epochs``."""
    return {"optimizer": "momentum", "lr": 0.01, "weight_decay": 5e-4, "weight_decay_all": True,
            "schedule": "dc_step", "epochs": epochs + 1, "batch_size": 256, "augment": "none"}


def _flags(cfg: dict[str, Any]) -> list[str]:
    out = []
    for k, v in cfg.items():
        flag = "--" + k.replace("_", "-")
        out += [flag] if v is True else [flag, str(v)]
    return out


def child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; its wall seconds, CPU seconds (user + system, its descendants included) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({r.returncode}): {r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def reference_cmd(model: str, arts: list[Path], code: str, epochs: int, threads: int) -> list[str]:
    if model in DC_MODELS:
        return [PY, "-m", "benchmarks.perf.dc_worker", "--code", code, "--model", model, "--epochs", str(epochs),
                "--threads", str(threads), *map(str, arts)]
    return [PY, "-m", "benchmarks.perf.bench_field", "--worker", "reference", "--model", model, "--epochs",
            str(epochs), "--threads", str(threads), *map(str, arts)]


def ddbench_cmd(model: str, arts: list[Path], epochs: int, threads: int, seed: int = 0) -> list[str]:
    if len(arts) == 1:  # what a user runs
        return [PY, "-m", "benchmarks", "evaluate", str(arts[0]), "--model", model, *_flags(recipe(epochs)),
                "--seed", str(seed), "--threads", str(threads), "--quiet"]
    return [PY, "-m", "benchmarks.perf.bench_field", "--worker", "ddbench", "--model", model, "--epochs",
            str(epochs), "--threads", str(threads), *map(str, arts)]


def _results(out: str) -> list[dict[str, float]]:
    """Per-model results a worker printed (``RESULT {json}`` lines: test_acc, wall_s, cpu_s)."""
    return [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]


def _accs(out: str) -> list[float]:
    """Test accuracies printed by a worker or by ``ddbench evaluate`` (one JSON document)."""
    if out.lstrip().startswith("{"):
        return [json.loads(out)["metrics"]["test_acc"]]
    return [r["test_acc"] for r in _results(out)]


def worker(side: str, model: str, arts: list[str], epochs: int, threads: int) -> None:
    """Train every artifact in this one process (a run's cells): ddbench's evaluator (with the malloc setting the
    ddbench command makes) or the in-repo loop."""
    import torch

    from benchmarks.allocator import keep_freed_memory

    if side == "ddbench":
        keep_freed_memory()

    from benchmarks.artifact import load_artifact
    from benchmarks.cost import resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.evaluator import evaluate
    from benchmarks.perf.reference import reference_evaluate
    from benchmarks.spec import EvalConfig

    torch.set_num_threads(threads)
    sets = [load_artifact(a) for a in arts]
    data = load_dataset(sets[0].meta["dataset"])
    device = resolve_device("cpu")
    for seed, ds in enumerate(sets):
        start, cpu = time.perf_counter(), time.process_time()
        if side == "ddbench":
            acc = evaluate(ds, data, EvalConfig(model=model, seed=seed, **recipe(epochs)), device)["metrics"]["test_acc"]
        else:
            acc = reference_evaluate(ds, data, model, seed, epochs + 1)["test_acc"]
        print("RESULT " + json.dumps({"test_acc": acc, "wall_s": time.perf_counter() - start,
                                      "cpu_s": time.process_time() - cpu}), flush=True)


def make_sets(ipc: int, n: int, where: Path) -> list[Path]:
    """n random-real MNIST sets at ``ipc`` (seeds 0..n-1), saved as artifacts."""
    from benchmarks.cost import resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.methods import Budget, run_method

    data = load_dataset("mnist")
    return [run_method("random", data, Budget(ipc), s, resolve_device("cpu")).save(where) for s in range(n)]


def _stats(xs: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(xs), 2), "std": round(statistics.stdev(xs), 2) if len(xs) > 1 else 0.0}


def measure(model: str, ipc: int, n: int, code: str, epochs: int, threads: int, work: Path) -> dict[str, Any]:
    """The three figures for one setting (see the module docstring)."""
    arts = make_sets(ipc, n, work / f"ipc{ipc}")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    # ddbench's processes share a compile cache of their own: empty for the first (cold), filled by it for the rest,
    # whatever the user's cache holds (a cache without this code's graphs would make later processes cold too)
    own = {**env, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(dir=work)}
    sides: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": [], "acc": []} for s in ("reference", "ddbench")}
    first_ddbench: dict[str, float] = {}
    for i, art in enumerate(arts):
        order = ("reference", "ddbench") if i % 2 == 0 else ("ddbench", "reference")
        for side in order:
            cmd = reference_cmd(model, [art], code, epochs, threads) if side == "reference" else \
                ddbench_cmd(model, [art], epochs, threads, seed=i)
            wall, cpu, out = child(cmd, own if side == "ddbench" else env)
            if side == "ddbench" and i == 0:
                first_ddbench = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
            sides[side]["wall"].append(wall)
            sides[side]["cpu"].append(cpu)
            sides[side]["acc"] += _accs(out)
            print(f"  {model} ipc {ipc} fresh #{i} {side}: {wall:.1f}s wall {cpu:.1f}s cpu {sides[side]['acc'][-1]:.2f}%",
                  flush=True)
    run: dict[str, dict[str, float]] = {}
    for side in ("ddbench", "reference") if n % 2 else ("reference", "ddbench"):
        cmd = reference_cmd(model, arts, code, epochs, threads) if side == "reference" else \
            ddbench_cmd(model, arts, epochs, threads)
        wall, cpu, out = child(cmd, own if side == "ddbench" else env)
        per_model = _results(out)
        k, later = len(per_model), per_model[1:]
        run[side] = {"wall_s": round(wall / k, 2), "cpu_s": round(cpu / k, 2),
                     "steady_wall_s": round(statistics.fmean(r["wall_s"] for r in later), 2),
                     "steady_cpu_s": round(statistics.fmean(r["cpu_s"] for r in later), 2),
                     "per_model_wall_s": [round(r["wall_s"], 2) for r in per_model]}
        print(f"  {model} ipc {ipc} within a run {side}: {wall / k:.1f}s wall {cpu / k:.1f}s cpu per model; "
              f"steady {run[side]['steady_wall_s']:.1f}s wall", flush=True)
    fresh = {s: {"wall_s": _stats(v["wall"]), "cpu_s": _stats(v["cpu"]), "acc": _stats(v["acc"])} for s, v in sides.items()}
    ratio = {
        "fresh_wall": round(fresh["reference"]["wall_s"]["mean"] / fresh["ddbench"]["wall_s"]["mean"], 2),
        "fresh_cpu": round(fresh["reference"]["cpu_s"]["mean"] / fresh["ddbench"]["cpu_s"]["mean"], 2),
        "run_wall": round(run["reference"]["wall_s"] / run["ddbench"]["wall_s"], 2),
        "run_cpu": round(run["reference"]["cpu_s"] / run["ddbench"]["cpu_s"], 2),
        "steady_wall": round(run["reference"]["steady_wall_s"] / run["ddbench"]["steady_wall_s"], 2),
    }
    return {"model": model, "ipc": ipc, "n": n, "epochs": epochs,
            "reference": "DatasetCondensation evaluate_synset" if model in DC_MODELS else "benchmarks/perf/reference.py",
            "fresh": fresh, "ddbench_first_process_cold_compile_cache": first_ddbench, "within_run": run,
            "speedup": ratio, "acc_diff": round(fresh["ddbench"]["acc"]["mean"] - fresh["reference"]["acc"]["mean"], 2)}


def markdown(doc: dict[str, Any]) -> str:
    """A readable table of the JSON (generated from it, never edited by hand)."""
    from tabulate import tabulate

    rows = []
    for s in doc["settings"]:
        f, r = s["fresh"], s["within_run"]
        rows.append([s["model"], s["ipc"], s["epochs"], s["n"], s["reference"], f"{f['reference']['wall_s']['mean']:.1f}",
                     f"{f['ddbench']['wall_s']['mean']:.1f}", s["speedup"]["fresh_wall"],
                     f"{r['reference']['wall_s']:.1f}", f"{r['ddbench']['wall_s']:.1f}", s["speedup"]["run_wall"],
                     *(f"{r[k].get('steady_wall_s', '-')}" for k in ("reference", "ddbench")),
                     s["speedup"].get("steady_wall", "-"),
                     s["speedup"]["fresh_cpu"], s["speedup"]["run_cpu"],
                     f"{f['reference']['acc']['mean']:.2f} ± {f['reference']['acc']['std']:.2f}",
                     f"{f['ddbench']['acc']['mean']:.2f} ± {f['ddbench']['acc']['std']:.2f}",
                     s["ddbench_first_process_cold_compile_cache"].get("wall_s", "-"),
                     " ".join(str(s.get("measured", {}).get(k, "")) for k in ("date", "commit")).strip() or "-"])
    m = doc["metadata"]
    notes = sorted({f"{x['measured']['commit']}: {x['measured']['conditions']}" for x in doc["settings"]
                    if x.get("measured", {}).get("conditions")})
    return "\n".join([
        "# Evaluator against the field's own loop", "", doc["protocol"], "",
        f"Machine: {m['cpu']}, {m['threads']} threads per side, torch {m['torch']}; last run {m['date']}, commit "
        f"{m['commit']}; reference code: {m['reference_code']}.", *([doc["conditions"]] if doc.get("conditions") else []),
        *(["Conditions per measurement: " + "; ".join(notes) + "."] if notes else []), "",
        tabulate(rows, headers=["model", "ipc", "epochs", "n", "reference", "ref s (fresh)", "ddbench s (fresh)", "x fresh",
                                "ref s (run)", "ddbench s (run)", "x run", "ref s (steady)", "ddbench s (steady)",
                                "x steady", "x CPU fresh", "x CPU run", "ref acc",
                                "ddbench acc", "ddbench first process, cold compile cache (s)", "measured"],
                 tablefmt="github"),
        "", "Commands: " + "; ".join(f"`{c}`" for c in row_commands(doc)), ""])


def row_commands(doc: dict[str, Any]) -> list[str]:
    """The commands that measured the rows shown, in row order (not every run that once wrote the file)."""
    return list(dict.fromkeys(s["measured"]["command"] for s in doc["settings"] if s.get("measured", {}).get("command")))


def _command_of(row: dict[str, Any], commands: list[str]) -> str | None:
    """The one command among ``commands`` whose --conditions are the row's, narrowed while ambiguous to those
    whose --settings name the row's model:ipc, then whose --n is the row's; None when none or several remain."""
    conditions = row.get("measured", {}).get("conditions")
    same = [c for c in commands if not conditions or c.endswith("--conditions " + conditions)]

    def settings(c: str) -> list[str]:
        return c.split(" --settings", 1)[-1].split(" --")[0].split()

    for keep in (lambda c: f"{row['model']}:{row['ipc']}" in settings(c), lambda c: f"--n {row['n']} " in c):
        same = [c for c in same if keep(c)] if len(same) > 1 else same
    return same[0] if len(same) == 1 else None


def attach_commands(doc: dict[str, Any]) -> None:
    """Give each row measured before rows kept their command the one earlier run that measured it (files then
    listed every run's command in ``commands``, aborted and replaced runs included)."""
    for row in doc["settings"]:
        m = row.get("measured", {})
        command = m.get("command") or _command_of(row, doc.get("commands", []))
        if command:
            row["measured"] = {**m, "command": command}
    doc.pop("commands", None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.bench_field", description=__doc__.splitlines()[0])
    p.add_argument("artifacts", nargs="*", help="(worker mode) the artifacts to train on")
    p.add_argument("--dc-code", default=os.environ.get("DDBENCH_DC_CODE"),
                   help="a local checkout of github.com/VICO-UoE/DatasetCondensation (default $DDBENCH_DC_CODE)")
    p.add_argument("--settings", nargs="+", default=SETTINGS, help="model:ipc pairs")
    p.add_argument("--n", type=int, default=3, help="sets (and fresh-process pairs) per setting")
    p.add_argument("--epochs", type=int, default=300, help="DC's epoch_eval_train")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="reports/bench/evaluator.json")
    p.add_argument("--conditions", default=None, help="what else ran on the machine (kept beside the numbers)")
    p.add_argument("--render", action="store_true", help="rewrite --out's .md from its .json without measuring")
    p.add_argument("--worker", choices=["ddbench", "reference"], help=argparse.SUPPRESS)
    p.add_argument("--model", default="convnet3", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.model, args.artifacts, args.epochs, args.threads)
        return 0
    if args.render:
        out = Path(args.out)
        doc = json.loads(out.read_text())
        attach_commands(doc)
        out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        out.with_suffix(".md").write_text(markdown(doc))
        return 0
    if args.n < 2:
        p.error("--n must be 2 or more (a run of one model is a fresh process)")
    if not args.dc_code or not (Path(args.dc_code) / "utils.py").is_file():
        p.error("--dc-code must point at a local checkout of DatasetCondensation (its utils.py and networks.py)")
    return run(args, argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    from benchmarks.cost import cpu_model, provenance, resolve_device

    out = Path(args.out)
    doc: dict[str, Any] = json.loads(out.read_text()) if out.exists() and "settings" in out.read_text() else {}
    doc = doc if doc.get("kind") == "field" else {"kind": "field", "settings": []}
    for row in doc["settings"]:  # rows measured before rows carried their own date and commit: the last run's
        row.setdefault("measured", {"date": doc.get("metadata", {}).get("date", ""),
                                    "commit": (doc.get("metadata", {}).get("commit") or "")[:7],
                                    "conditions": doc.get("conditions", "")})
    attach_commands(doc)
    command = "python -m benchmarks.perf.bench_field " + " ".join(argv if argv is not None else sys.argv[1:])
    command = command.strip().replace(args.dc_code, "$DDBENCH_DC_CODE")
    commit = subprocess.run(["git", "-C", args.dc_code, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    commit = commit or os.environ.get("DDBENCH_DC_COMMIT", "")  # an exported copy: say which commit it is
    doc["metadata"] = {**provenance(resolve_device("cpu")), "cpu": cpu_model(), "threads": args.threads,
                       "date": time.strftime("%Y-%m-%d"),
                       "reference_code": f"DatasetCondensation {commit or '(not a git checkout)'}"}
    doc["protocol"] = ("MNIST, random real images per class; Epoch + 1 epochs (Epoch: the epochs column) of SGD 0.01 "
                       "momentum 0.9 wd 5e-4 (every parameter), x0.1 after epoch Epoch//2 + 1, batch 256, no "
                       "augmentation, then the whole test split. Seconds per model, train + test + process start-up "
                       "and data loading (fresh), the process's total over its models (run), or the mean of a run's models after "
                       "its first, each timed in the process (steady); ratios = reference / "
                       "ddbench; acc = test accuracy (%).")
    doc.pop("conditions", None)  # kept per row ("measured")
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings:
            model, ipc = setting.split(":")
            result = measure(model, int(ipc), args.n, args.dc_code, args.epochs, args.threads, Path(tmp))
            result["measured"] = {"date": time.strftime("%Y-%m-%d"), "commit": (doc["metadata"].get("commit") or "")[:7],
                                  "conditions": args.conditions or "", "command": command}
            doc["settings"] = [s for s in doc["settings"] if (s["model"], s["ipc"]) != (model, int(ipc))] + [result]
            doc["settings"].sort(key=lambda s: (s["model"], s["ipc"]))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            out.with_suffix(".md").write_text(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
