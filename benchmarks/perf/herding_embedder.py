"""Does herding's feature space explain protocols-mnist's herding row? Herding sets built in different feature
spaces, each evaluated under a published protocol, beside the suite's records and the published number.

``python -m benchmarks.perf.herding_embedder --steps 200 2000 --seeds 0 1 2`` distils ``herding`` at ``--ipc``
with ``--param feature_steps=S`` (``ddbench distill``): the method itself, its embedder trained for S steps.
``--variants`` adds feature spaces the method does not offer, built here with the method's own selection code
(``benchmarks.selection``): ``untrained`` (the embedder at its seeded initialisation), ``pixels`` (the raw
images) and ``l2:S`` (the S-step embedder's features scaled to unit length, as iCaRL herds). Each set is evaluated
with ``ddbench evaluate --protocol P --seed <seed>`` in its own process, as a user would; sets and evaluation
outputs are kept in ``--work``, so a re-run resumes. A set whose hash and seed match a ``protocols-mnist`` record
under the same protocol takes that record's accuracy instead of being evaluated again (the cell is the same; the
evaluator is deterministic at a pinned thread count). Writes ``--out``.json and .md; rows of an earlier run that
this one does not measure are kept, each with its own command, commit and date.
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
import torch.nn.functional as F
from torch import Tensor

from benchmarks.data import RealData, load_dataset
from benchmarks.models import build_model
from benchmarks.perf.protocol_parity import sample_stats
from benchmarks.seeding import seed_global
from benchmarks.selection import EMBEDDER_PRECISION, embed, herd, per_class, train_features
from benchmarks.suite import load_suite, published_row
from reports.frame import load_records

SUITE = "protocols-mnist"
DDBENCH = [sys.executable, "-m", "benchmarks"]


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


EMBEDDER = "convnet3"  # herding's registered feature_model


def _kept(out: Path) -> list[Path]:
    return [f for f in sorted(out.glob("*.json")) if not f.name.startswith("eval_")]


def distil(steps: int, seed: int, ipc: int, threads: int, work: Path) -> Path:
    """The herding set for (steps, seed): its .json path, made once and kept in ``work``."""
    out = work / f"steps{steps}_seed{seed}"
    if not _kept(out):
        _run([*DDBENCH, "distill", "herding", "--dataset", "mnist", "--ipc", str(ipc), "--seed", str(seed),
              "--param", f"feature_steps={steps}", "--out", str(out), "--threads", str(threads), "--quiet"])
    return _kept(out)[0]


def variant_features(variant: str, data: RealData, seed: int, device: torch.device) -> Tensor:
    """Every training image's features in ``variant``'s space (see the module docstring)."""
    if variant == "pixels":
        return data.train_x.flatten(1)  # herding is unchanged by normalising every image alike
    if variant == "untrained":
        seed_global(seed)
        net = build_model(EMBEDDER, data.num_classes, data.channels, data.size)[0].to(device)
        return embed(net, data, data.train_x, device)
    kind, _, steps = variant.partition(":")
    if kind == "l2" and steps.isdigit():
        return F.normalize(train_features(data, EMBEDDER, int(steps), seed, device), dim=1)
    raise SystemExit(f"unknown variant {variant!r}: use untrained, pixels or l2:<steps>")


def distil_variant(variant: str, seed: int, ipc: int, threads: int, work: Path) -> Path:
    """A herding set in ``variant``'s feature space, with the metadata ``run_method`` gives a herding artifact."""
    out = work / f"{variant.replace(':', '')}_seed{seed}"
    if not _kept(out):
        torch.set_num_threads(threads)
        device = torch.device("cpu")
        data = load_dataset("mnist").for_distillation()
        start = time.perf_counter()
        feats = variant_features(variant, data, seed, device)
        ds = per_class(data, ipc, lambda c, idx: idx[herd(feats[idx], ipc)])
        ds.meta.update({"method": "herding", "params": {"feature_space": variant, "feature_model": EMBEDDER,
                                                        "precision": EMBEDDER_PRECISION},
                        "dataset": data.name, "classes": list(data.classes), "ipc": ipc, "iterations": None,
                        "seed": seed, "cost": {"wall_s": time.perf_counter() - start}})
        ds.validate()
        ds.save(out)
    return _kept(out)[0]


def stored_accuracy(records: list[dict[str, Any]], art_hash: str, seed: int, protocol: str) -> float | None:
    """The suite's test accuracy for this set, seed and protocol, if it evaluated that cell."""
    for r in records:
        c = r["config"]
        if (r["status"] == "ok" and r["artifact"]["hash"] == art_hash and c.get("seed") == seed
                and c["eval"].get("protocol") == protocol):
            return float(r["metrics"]["test_acc"])
    return None


def evaluate(art: Path, seed: int, protocol: str, threads: int) -> dict[str, Any]:
    """``ddbench evaluate``'s output for ``art``; kept beside the set, so an interrupted benchmark resumes without
    training that model again."""
    kept = art.with_name(f"eval_{protocol}_seed{seed}.json")
    if not kept.is_file():
        kept.write_text(_run([*DDBENCH, "evaluate", str(art), "--protocol", protocol, "--seed", str(seed),
                              "--threads", str(threads), "--quiet"]))
    return json.loads(kept.read_text())


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# Herding's feature space and the published herding row", "",
             f"MNIST, herding at ipc {doc['ipc']}: per-class greedy herding (`benchmarks.selection.herd`) in a feature "
             "space - *steps S*: the penultimate features of a ConvNet-3 trained on the train split (Adam, batch 128) "
             "for S steps, i.e. the `herding` method with `feature_steps = S`; *untrained*: that ConvNet-3 at its "
             "seeded initialisation; *pixels*: the raw images; *l2:S*: the S-step features scaled to unit length "
             f"(iCaRL's herding). Each set evaluated under the `{doc['protocol']}` preset (ConvNet-3). Test accuracy "
             "(%), mean ± sample std over seeds.", "",
             f"{doc['threads']} thread per process. Published: {doc['published']}. Seed s: the set's distillation seed "
             "and the evaluation seed, as in the suite; an accuracy taken from a suite record is that cell's.", "",
             "| feature space | test acc | n | per seed | source of each accuracy | distillation wall s (per seed) | "
             "evaluation wall s (those run here) | measured |", "|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        s = r["stats"]
        lines.append(f"| {row_label(r)} | {s['mean']:.2f} ± {s['std']:.2f} | {s['n']} | "
                     f"{', '.join(f'{a:.2f}' for a in r['accs'])} | {', '.join(r['sources'])} | "
                     f"{', '.join(map(str, r['distil_wall_s']))} | {', '.join(map(str, r['eval_wall_s'])) or '-'} | "
                     f"{r.get('measured', doc.get('measured'))} {r.get('commit', doc.get('commit'))} |")
    commands = dict.fromkeys(r.get("command", doc.get("command")) for r in doc["rows"])
    lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in commands)]
    return "\n".join(lines) + "\n"


def row_label(row: dict[str, Any]) -> str:
    return row.get("variant") or f"steps {row['steps']}"


def earlier_rows(out: Path, doc_keys: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of an earlier run at ``out`` (same ipc and protocol), each carrying the command, commit and date it
    was measured with."""
    path = out.with_suffix(".json")
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    if any(old.get(k) != v for k, v in doc_keys.items()):
        return []
    return [{"command": old.get("command"), "commit": old.get("commit"), "measured": old.get("measured"), **r}
            for r in old["rows"]]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, nargs="*", default=[200, 2000])
    p.add_argument("--variants", nargs="*", default=[], help="untrained, pixels, l2:<steps>")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--protocol", default="dc")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default=str(Path.home() / ".cache" / "ddbench" / "herding_embedder"))
    p.add_argument("--out", default="reports/bench/herding_embedder")
    a = p.parse_args(argv)
    records = load_records(Path("reports") / SUITE / "records")
    pub = published_row(load_suite(SUITE).published, "mnist", "herding", a.ipc, a.protocol)
    work = Path(a.work)
    rows = []
    measures = [(f"steps {n}", {"steps": n}, lambda seed, n=n: distil(n, seed, a.ipc, a.threads, work)) for n in a.steps]
    measures += [(v, {"variant": v}, lambda seed, v=v: distil_variant(v, seed, a.ipc, a.threads, work))
                 for v in a.variants]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    command = "python -m benchmarks.perf.herding_embedder " + " ".join(argv if argv is not None else sys.argv[1:])
    for label, key, make in measures:
        accs, sources, distil_s, eval_s = [], [], [], []
        for seed in a.seeds:
            art = make(seed)
            distil_s.append(json.loads(art.read_text())["meta"]["cost"]["wall_s"])  # as the artifact recorded it
            acc = stored_accuracy(records, art.stem, seed, a.protocol)
            if acc is None:
                result = evaluate(art, seed, a.protocol, a.threads)
                acc = float(result["metrics"]["test_acc"])
                eval_s.append(result["cost"]["wall_s"])
                sources.append(f"evaluated ({art.stem})")
            else:
                sources.append(f"{SUITE} record ({art.stem})")
            accs.append(acc)
            print(f"{label} seed {seed}: {acc:.2f} ({sources[-1]})", flush=True)
        rows.append({**key, "accs": accs, "stats": sample_stats(accs), "sources": sources,
                     "distil_wall_s": [round(x, 1) for x in distil_s], "eval_wall_s": [round(x, 1) for x in eval_s],
                     "command": command, "commit": commit, "measured": date.today().isoformat()})
    out = Path(a.out)
    keys = {"ipc": a.ipc, "protocol": a.protocol, "threads": a.threads}
    done = {row_label(r) for r in rows}
    rows = [r for r in earlier_rows(out, keys) if row_label(r) not in done] + rows
    doc = {**keys, "published": "none" if pub is None else f"{pub['acc']} ± {pub.get('std', 0)} [{pub['ref']}]",
           "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
