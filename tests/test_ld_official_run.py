"""The official label-distillation run reads MNIST as torchvision does and reports what the script logged."""

from benchmarks.perf.ld_official_run import markdown, summarise, write_mnist


def test_the_idx_files_are_what_torchvision_reads(tmp_path):
    import torchvision.datasets as datasets

    from benchmarks.data import load_dataset

    write_mnist(tmp_path)
    data = load_dataset("mnist")
    train = datasets.MNIST(str(tmp_path), train=True, download=False)
    test = datasets.MNIST(str(tmp_path), train=False, download=False)
    assert (len(train), len(test)) == (len(data.train_y) + len(data.val_y), len(data.test_y)) == (60000, 10000)
    assert train.targets[:5].tolist() == data.train_y[:5].tolist()
    assert test.data[0].float().div(255).allclose(data.test_x[0, 0], atol=1 / 255)


def test_the_summary_is_the_scripts_own_log():
    config = {"num_base_examples": 100, "epochs": 400, "expname": "x"}
    log = {"test_top_1_error": [12.5, 13.5], "num_test_steps": [900, 900], "total_train_time": [10.0, 3600.04],
           "total_test_time": [3700.0, 3800.06]}
    r = summarise(config, {"log": log, "wall_s": 3801.0, "cpu_s": 3790.0})
    assert r["accs"] == [87.5, 86.5] and r["stats"]["mean"] == 87.0 and r["published"] == (87.3, 0.7)
    assert (r["script_train_s"], r["script_total_s"], r["test_steps"]) == (3600.0, 3800.1, [900])
    assert summarise({**config, "epochs": 5}, {"log": log, "wall_s": 1, "cpu_s": 1})["published"] is None
    doc = {"code_commit": "7ebc088", "config": "c.json", "threads": 1, "machine": "m", "torch": "t", "measured": "d",
           "commit": "c", "command": "cmd", "result": r}
    assert "| 100 | 400 | 87.00 ± 0.71 | 2 | 87.3 ± 0.7 | 900 | 3600.0 | 3800.1 |" in markdown(doc)


def test_distillations_compare_means_of_runs_not_pooled_models(tmp_path):
    """Official runs are filtered by N and epochs and named by their configuration's seed; the comparison is of
    distillation means (Welch's t-test as scipy computes it), and ld's committed paper-budget artifacts each
    carry their 20 evaluations."""
    import json
    from pathlib import Path

    from scipy.stats import ttest_ind, ttest_rel

    from benchmarks.perf.ld_distillations import compare, ld_runs, official_runs

    def run(name: str, n: int, epochs: int, accs: list[float]) -> Path:
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({"config": f"experiment_configs/{name}.json", "threads": 1,
                                 "result": {"n_base": n, "epochs": epochs, "accs": accs}}))
        return p

    paths = [run("ld_100be_x_400e_or2_465s_v0", 100, 400, [86.0, 87.0]), run("ld_100be_x_100e_or2_0s_v0", 100, 100, [80.0]),
             run("ld_100be_x_400e_or2_0s_v0", 100, 400, [85.0, 85.5])]
    official = official_runs(paths, 100, 400)
    assert [(r["seed"], r["accs"]) for r in official] == [(0, [85.0, 85.5]), (465, [86.0, 87.0])]
    ours = [{"side": "ld", "seed": s, "accs": a, "steps": 300, "threads": 1, "source": "x"}
            for s, a in ((0, [84.0, 85.0]), (1, [85.0, 86.0]), (2, [84.0, 84.0]))]
    fresh = [{"side": "ld, fresh judges", "seed": s, "accs": a, "steps": 350, "threads": 1, "source": "y"}
             for s, a in ((0, [85.0, 86.0]), (1, [85.5, 86.0]), (2, [85.0, 86.0]), (7, [90.0]))]
    out = compare(ours + fresh + official)
    assert out["sides"]["ld"]["distillations"] == {"mean": 84.67, "std": 0.76, "n": 3}
    assert out["sides"]["official"]["models"] == {"mean": 85.88, "std": 0.85, "n": 4}
    assert out["sides"]["ld, fresh judges"]["steps"] == [350] * 4
    t = ttest_ind([84.5, 85.5, 84.0], [85.25, 86.5], equal_var=False)
    assert out["welch"]["ld"] == {"t": round(float(t.statistic), 3), "p": round(float(t.pvalue), 4)}
    paired = ttest_rel([85.5, 85.75, 85.5], [84.5, 85.5, 84.0])  # seed 7 has no seeded partner: left out
    assert out["paired"]["seeds"] == [0, 1, 2] and out["paired"]["differences"] == [1.0, 0.25, 1.5]
    assert (out["paired"]["t"], out["paired"]["p"]) == (round(float(paired.statistic), 3), round(float(paired.pvalue), 4))
    committed = ld_runs(Path(__file__).resolve().parents[1] / "reports", 10, 19600)
    assert len(committed) >= 3 and all(len(r["accs"]) == 20 for r in committed)
