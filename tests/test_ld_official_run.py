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
