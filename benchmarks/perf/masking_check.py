"""Are a robustness suite's high PGD accuracies real, or masked gradients? (issue 18)

The panel attacks with FGSM and 10-step PGD. Training on soft labels can flatten or saturate the loss a
gradient attack follows, which raises white-box accuracy without making the model harder to fool. For chosen
cells of a suite this re-trains the cell's model exactly as the suite's evaluator does (its artifact from the
cache, else distilled; the record's clean accuracy is reported beside ours as a check), then attacks one seeded
subset of the test split (``attack_subset``, as the panel draws it) at one epsilon with: the panel's PGD-10;
PGD-100; APGD with the cross-entropy and with the DLR loss (Croce & Hein 2020, via torchattacks); and PGD-10
examples crafted on the full-data model of the same seed (a transfer attack, which no masked gradient stops).
White-box PGD accuracy well above the stronger or the transferred attacks' is the sign of masking. With
``--teachers`` the teachers behind the cells' soft labels are attacked too: is a student's robustness its teacher's?

``python -m benchmarks.perf.masking_check --suite robustness-mnist --cells full herding "rded:kl(T=4.0,t2=True)" rded:gift``
writes ``--out``.json and .md (default reports/bench/gradient_masking).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate

from benchmarks.allocator import keep_freed_memory
from benchmarks.cost import cpu_model, resolve_device
from benchmarks.data import load_dataset
from benchmarks.evaluator import apply_hints
from benchmarks.robustness import RobustnessSpec
from benchmarks.robustness.attacks import (
    NormalizedModel,
    adversarial_accuracy,
    adversarial_examples,
    attack_subset,
    clean_accuracy,
)
from benchmarks.runner import get_artifact
from benchmarks.seeding import pin_runtime
from benchmarks.spec import Cell
from benchmarks.suite import Suite, load_suite
from benchmarks.teachers import load_teacher
from benchmarks.training import train
from reports.frame import load_records, loss_label

DEFAULT_CELLS = ("full", "herding", "soft_random:kl(T=4.0,t2=True)", "rded:kl(T=4.0,t2=True)", "rded:gift")


def pick_cells(suite: Suite, wanted: list[str], seed: int) -> list[Cell]:
    """The suite's cells of seed ``seed`` for each ``method`` or ``method:loss`` asked for, in that order; the loss
    by its name (``kl``) or, where the suite has several settings of it, its full label (``kl(T=4.0,t2=True)``)."""
    cells = [c for c in suite.cells() if c.eval.seed == seed]
    out = []
    for w in wanted:
        method, _, loss = w.partition(":")
        found = [c for c in cells if c.method == method and (not loss or loss in (c.eval.loss_spec().name, _loss(c)))]
        if len(found) != 1:
            raise SystemExit(f"masking_check: {w!r} names {len(found)} cells of {suite.name} at seed {seed}; "
                             "name one (method, method:loss or method:loss(params) as the report labels it)")
        out.append(found[0])
    return out


def _loss(cell: Cell) -> str:
    spec = cell.eval.loss_spec()
    return loss_label({"name": spec.name, "params": spec.params})


def _label(cell: Cell) -> str:
    return f"{cell.method}:{_loss(cell)}"


def _white_box(panel_steps: int, strong_steps: int) -> dict[str, tuple[str, int]]:
    """Each white-box column: the registered attack and its number of steps."""
    return {"pgd10": ("pgd", panel_steps), "pgd100": ("pgd", strong_steps), "apgd_ce": ("apgd-ce", strong_steps),
            "apgd_dlr": ("apgd-dlr", strong_steps)}


ATTACK_COLUMNS = (*_white_box(0, 0), "transfer_pgd10")  # the report's attack columns, in order


def check(suite_name: str, wanted: list[str], seed: int, eps: float, size: int, strong_steps: int,
          device: torch.device, with_teachers: bool = False) -> dict[str, Any]:
    """Train each cell's model and attack it (and, ``with_teachers``, the teachers whose labels the cells' sets carry);
    the full-data cell of the same seed supplies the transfer attack."""
    suite = load_suite(suite_name)
    cells = pick_cells(suite, wanted, seed)
    full = pick_cells(suite, ["full"], seed)[0]
    data = load_dataset(cells[0].dataset)
    spec = RobustnessSpec.from_dict(cells[0].eval.robustness or {})
    x, y = attack_subset(data.test_x, data.test_y, size, spec.seed)
    stored = Path("reports") / suite.name / "records"
    records = {r["key"]: r for r in load_records(stored)} if stored.is_dir() else {}
    models: dict[str, NormalizedModel] = {}
    rows = []

    def attacked(label: str, key: str, model: NormalizedModel, rec: dict[str, Any], start: float) -> None:
        model.eval()
        models[key] = model
        panel = rec.get("robustness", {}).get("summary", {})
        row: dict[str, Any] = {
            "cell": label, "key": key,
            "record_clean_acc": rec.get("test_acc"), "record_pgd10": panel.get(f"pgd@{eps:g}"),
            "clean_subset": round(clean_accuracy(model, x, y, device), 2),
        }
        for column, (attack, steps) in _white_box(spec.pgd_steps, strong_steps).items():
            row[column] = round(adversarial_accuracy(model, attack, x, y, eps, steps, data.num_classes, spec.seed,
                                                     device), 2)
        rows.append(row)
        row["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(row), flush=True)

    teachers: list[str] = []
    for cell in [full] + [c for c in cells if c is not full and c.key != full.key]:
        start = time.perf_counter()
        ds = get_artifact(cell, device, None)
        cfg = apply_hints(cell.eval, ds).for_device(device)
        model = NormalizedModel(train(ds, data, cfg, cfg.base_lr(), device).model, data.normalize)
        attacked(_label(cell), cell.key, model, records.get(cell.key, {}).get("metrics", {}), start)
        if with_teachers and ds.teacher and ds.teacher not in teachers:
            teachers.append(ds.teacher)
    for key in teachers:  # the soft labels' source, attacked as its students are
        start = time.perf_counter()
        teacher = load_teacher(key, device)
        label = f"teacher:{teacher.config.model}({teacher.record.get('epochs_kept', teacher.config.epochs)} epochs)"
        attacked(label, key, NormalizedModel(teacher.model, data.normalize), {}, start)
    crafted = adversarial_examples(models[full.key], "pgd", x, y, eps, spec.pgd_steps, data.num_classes, spec.seed,
                                   device)
    for row in rows:
        row["transfer_pgd10"] = (None if row["key"] == full.key else
                                 round(clean_accuracy(models[row["key"]], crafted, y, device), 2))
    return {"suite": suite.name, "seed": seed, "eps": eps, "subset": len(y), "subset_seed": spec.seed,
            "strong_steps": strong_steps, "panel_pgd_steps": spec.pgd_steps, "rows": rows}


def markdown(doc: dict[str, Any]) -> str:
    """The report: per cell, the record's and our clean accuracy, then each attack's accuracy."""
    rows = [[r["cell"], r["record_clean_acc"], r["clean_subset"], r["record_pgd10"],
             *(("-" if r[c] is None else r[c]) for c in ATTACK_COLUMNS)] for r in doc["rows"]]
    table = tabulate(rows, headers=["cell", "record clean (test)", "clean (subset)", "record pgd10 (panel subset)",
                                    *ATTACK_COLUMNS], tablefmt="github")
    return "\n".join([
        "# Gradient masking check of the robustness panel (issue 18)",
        "",
        f"`{doc['suite']}`, seed {doc['seed']}: each cell's model re-trained as the suite's evaluator trains it, then "
        f"attacked at eps {doc['eps']:g} (L-inf, pixel units) on {doc['subset']} test images (`attack_subset`, seed "
        f"{doc['subset_seed']}): the panel's PGD-{doc['panel_pgd_steps']} (random start), PGD-{doc['strong_steps']}, "
        f"APGD-CE and APGD-DLR ({doc['strong_steps']} steps, torchattacks), and PGD-{doc['panel_pgd_steps']} examples "
        "crafted on the full-data model (transfer). Accuracy in %. The record's columns come from the suite's own "
        "records (test split; the panel's attack subset is larger than this one)."
        + (" `teacher:` rows: the cached teacher whose soft labels the cells' sets carry, attacked as its students are."
           if any(r["cell"].startswith("teacher:") for r in doc["rows"]) else ""),
        "",
        f"Machine: {doc['machine']}, {doc['threads']} thread(s), torch {doc['torch']}; commit {doc['commit']}, "
        f"{doc['date']}.",
        "",
        table,
        "",
        f"Command: `{doc['command']}`",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="robustness-mnist")
    p.add_argument("--cells", nargs="+", default=list(DEFAULT_CELLS),
                   help="method or method:loss of the suite's cells (the full-data cell is always included)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--size", type=int, default=200, help="attacked test images")
    p.add_argument("--strong-steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--teachers", action="store_true",
                   help="also attack the teachers whose soft labels the chosen cells' sets carry (one row each)")
    p.add_argument("--out", default="reports/bench/gradient_masking")
    args = p.parse_args(argv)
    pin_runtime(args.threads)
    keep_freed_memory()
    doc = check(args.suite, args.cells, args.seed, args.eps, args.size, args.strong_steps, resolve_device("cpu"),
                args.teachers)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    doc.update(machine=cpu_model(), threads=args.threads, torch=torch.__version__, commit=commit,
               date=date.today().isoformat(),
               command="python -m benchmarks.perf.masking_check " + " ".join(argv if argv is not None else
                                                                           sys.argv[1:]))
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(f"wrote {out}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
