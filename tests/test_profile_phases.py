"""profile_phases' markdown is a function of its JSON: a stored file renders as the measurement did."""

import json

from benchmarks.perf.profile_phases import ROWS, bound, main, markdown


def _doc() -> dict:
    seconds = {"data": 0.1, "forward": 1.0, "backward": 2.0, "optimizer": 0.2, "test": 0.5, "other": 0.3}
    run = {"model": "convnet3", "ipc": 10, "steps": 3, "batch": 100, "precision": "bf16", "compiled": True,
           "wall_s": 4.1, "test_acc": 90.0, "seconds": seconds, "gflop": {"forward": 1.0}, "gflop_per_s": {"forward": 1.0},
           "matmul_peak_gflop_per_s": 100.0, "primitives": [], "primitive_steps": 0}
    return {"runs": [run], "machine": {"cpu": "x", "threads": 1, "torch": "t", "commit": "c"}, "conditions": "",
            "command": "python -m benchmarks.perf.profile_phases", "note": "n"}


def test_a_stored_json_renders_its_phases_in_the_measurements_order(tmp_path):
    doc = _doc()
    path = tmp_path / "phases.json"
    path.write_text(json.dumps(doc, indent=1, sort_keys=True))  # as main writes it: keys sorted
    assert main(["--render", str(path)]) == 0
    rendered = path.with_suffix(".md").read_text()
    assert rendered == markdown(doc)
    rows = [line.split("|")[1].strip() for line in rendered.splitlines() if line.startswith("| ") and "phase" not in line]
    assert rows == list(ROWS)


def test_the_kernel_bound_is_the_wall_less_what_convolutions_at_the_ceiling_would_save():
    doc = _doc()
    run = doc["runs"][0]
    run.update(steps=10, wall_s=10.0, matmul_peak_gflop_per_s=100.0, gflop={"forward": 1.0, "test": 50.0},
               onednn={"conv_gflop_per_step": 20.0, "conv_ms_at_peak": 200.0, "conv_ms": 300.0, "reorder_ms": 20.0,
                       "matmul_peak_gflop_per_s": 100.0, "ceiling_gflop_per_s": 125.0, "conv_ms_at_ceiling": 160.0})
    run["seconds"]["test"] = 0.8  # 50 GFLOP at the 125 GFLOP/s ceiling: 0.4 s
    b = bound(run)
    assert b == {"floor_s": round(10.0 - 10 * 0.160 - 0.4, 2), "at_most": round(10.0 / 8.0, 2),
                 "compute_s": round(10 * 0.160 + 0.4, 2), "compute_at_most": round(10.0 / 2.0, 2)}
    assert f"**{b['floor_s']} s**" in markdown(doc) and f"**{b['at_most']}x**" in markdown(doc)
    del run["onednn"]
    assert bound(run) is None and "at most" not in markdown(doc)
