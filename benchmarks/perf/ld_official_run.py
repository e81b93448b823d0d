"""The official label-distillation code, run end to end on this machine: what its own script reaches.

``python -m benchmarks.perf.ld_official_run --ld-code PATH`` (or ``$DDBENCH_LD_CODE``: a local copy of
github.com/ondrejbohdal/label-distillation, never vendored) runs ``label_distillation_or2.py`` with one of its
own experiment configurations (default: the paper's MNIST N = 100 run, 400 epochs), unchanged but for
``--epochs`` when given, in a work folder of its own: the script's ``data/`` there holds MNIST as torchvision's
idx files, written from the images ddbench loads (the 60,000 training images, train and validation splits
together, which the script splits 50,000 / 10,000 itself, and the 10,000 test images), and its ``results/``
receives the script's JSON log. The script distils, selects on its validation split, and trains 20 models from
scratch on the test split; this reports their accuracy (100 - its top-1 error), mean and sample std, beside the
published number, with the script's own timings and the process's CPU seconds. Writes ``--out``.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.perf.bench_ld import PAPER_EPOCHS, idx_files
from benchmarks.perf.protocol_parity import sample_stats
from benchmarks.suite import load_suite, published_row

CONFIG = "experiment_configs/ld_100be_50ib_mn_to_mn_bl_cnn_400e_or2_1234s_v0.json"
PAPER_SUITE = "ld-paper-budget-mnist"  # holds the paper's published rows for ld on MNIST


def published(n_base: int) -> tuple[float, float] | None:
    """The paper's number for N base images (the suite's [[published]] row at ipc N / 10), or None."""
    row = published_row(load_suite(PAPER_SUITE).published, "mnist", "ld", n_base // 10)
    return None if row is None else (row["acc"], row.get("std", 0.0))


def write_mnist(root: Path) -> None:
    """MNIST as torchvision's raw idx files under ``root/MNIST/raw``: 60,000 training and 10,000 test images."""
    import torch

    from benchmarks.data import load_dataset

    data = load_dataset("mnist")
    idx_files(root, "train", torch.cat([data.train_x, data.val_x]), torch.cat([data.train_y, data.val_y]))
    idx_files(root, "t10k", data.test_x, data.test_y)


def run_official(code: Path, config: dict[str, Any], work: Path, threads: int) -> dict[str, Any]:
    """The official script on ``config`` in ``work``; its JSON log plus this process's timings."""
    (work / "results").mkdir(parents=True, exist_ok=True)
    cfg_path = work / f"{config['expname']}.json"
    cfg_path.write_text(json.dumps(config))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with (work / "log.txt").open("w") as log:
        subprocess.run([sys.executable, str(code / "label_distillation_or2.py"), "--filepath_to_arguments_json_file",
                        str(cfg_path)], cwd=work, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads((work / "results" / f"{config['expname']}.json").read_text())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"log": result, "wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(cpu, 1)}


def _last(values: list[float] | None) -> float | None:
    return round(float(values[-1]), 1) if values else None


def summarise(config: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    log = run["log"]
    accs = [round(100.0 - float(e), 2) for e in log["test_top_1_error"]]
    n = int(config["num_base_examples"])
    return {"n_base": n, "epochs": config["epochs"], "accs": accs, "stats": sample_stats(accs),
            "published": published(n) if config["epochs"] == PAPER_EPOCHS.get(n) else None,
            "test_steps": sorted(set(log.get("num_test_steps", []))),
            # the script logs seconds since its start: once after distilling, then after each test model
            "script_train_s": _last(log.get("total_train_time")), "script_total_s": _last(log.get("total_test_time")),
            "wall_s": run["wall_s"], "cpu_s": run["cpu_s"]}


def markdown(doc: dict[str, Any]) -> str:
    r = doc["result"]
    s = r["stats"]
    pub = "-" if r["published"] is None else f"{r['published'][0]} ± {r['published'][1]}"
    return "\n".join([
        "# The official label-distillation code, end to end", "",
        f"`label_distillation_or2.py` of label-distillation {doc['code_commit']} with its configuration "
        f"`{doc['config']}` ({r['epochs']} epochs, N = {r['n_base']} base examples), run unchanged in its own process "
        f"at {doc['threads']} thread(s); MNIST idx files written from the images ddbench loads. Test accuracy (%) of "
        "the script's 20 models trained from scratch on its learned labels (100 - its top-1 error).", "",
        f"Machine: {doc['machine']}; torch {doc['torch']}; measured {doc['measured']}, ddbench commit {doc['commit']}.", "",
        "| N | epochs | test acc | n | published | steps the script chose | script: distilled at s | script: tested at s "
        "| wall s | CPU s |", "|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['n_base']} | {r['epochs']} | {s['mean']:.2f} ± {s['std']:.2f} | {s['n']} | {pub} | "
        f"{', '.join(map(str, r['test_steps']))} | {r['script_train_s']} | {r['script_total_s']} | {r['wall_s']} | "
        f"{r['cpu_s']} |", "",
        "Per model: " + ", ".join(f"{a:.2f}" for a in r["accs"]), "",
        f"Command: `{doc['command']}`", ""])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ld-code", default=os.environ.get("DDBENCH_LD_CODE"),
                   help="local copy of the official repository (default: $DDBENCH_LD_CODE)")
    p.add_argument("--config", default=CONFIG, help="one of the repository's experiment configurations")
    p.add_argument("--epochs", type=int, default=None, help="override the configuration's epochs (a short check)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default=str(Path.home() / ".cache" / "ddbench" / "ld_official"))
    p.add_argument("--out", default="reports/bench/ld_official")
    a = p.parse_args(argv)
    if not a.ld_code or not (Path(a.ld_code) / "label_distillation_or2.py").is_file():
        raise SystemExit("--ld-code (or $DDBENCH_LD_CODE) must name a local copy of ondrejbohdal/label-distillation")
    import torch

    from benchmarks.cost import cpu_model

    code = Path(a.ld_code).resolve()
    config = json.loads((code / a.config).read_text())
    if a.epochs is not None:
        config = {**config, "epochs": a.epochs, "expname": f"{config['expname']}_{a.epochs}e"}
    work = Path(a.work) / config["expname"]
    write_mnist(work / "data")
    run = run_official(code, config, work, a.threads)
    git = ["git", "rev-parse", "--short", "HEAD"]
    doc = {"command": "python -m benchmarks.perf.ld_official_run " + " ".join(argv if argv is not None else sys.argv[1:]),
           "config": a.config, "threads": a.threads, "measured": date.today().isoformat(),
           "commit": subprocess.run(git, capture_output=True, text=True).stdout.strip(),
           "code_commit": subprocess.run(git, capture_output=True, text=True, cwd=code).stdout.strip(),
           "machine": cpu_model(), "torch": torch.__version__, "result": summarise(config, run)}
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
