"""pytest-benchmark speed measurements (``tox -e bench``): the evaluator's and the reference loop's
cost for one ConvNet-3 model on an IPC-10 MNIST set, at equal (reduced) step budgets.

Accuracy and the full models-per-hour comparison are in ``python -m benchmarks.perf.bench_evaluator``
(``reports/bench/evaluator_levers.json``; against the field's own code: ``benchmarks.perf.bench_field``); these only time the two loops so regressions show up.
"""

import pytest

from benchmarks.cost import resolve_device
from benchmarks.data import load_dataset
from benchmarks.evaluator import evaluate
from benchmarks.methods import Budget, run_method
from benchmarks.perf.bench_evaluator import ddbench_config
from benchmarks.perf.reference import reference_evaluate

EPOCHS = 20


@pytest.fixture(scope="module")
def setting():
    data = load_dataset("mnist")
    device = resolve_device("cpu")
    return data, run_method("random", data, Budget(10), 0, device), device


@pytest.mark.bench
@pytest.mark.parametrize("model", ["convnet3", "lenet"])
def test_bench_reference_loop(benchmark, setting, model):
    data, ds, _ = setting
    benchmark.pedantic(lambda: reference_evaluate(ds, data, model, 0, epochs=EPOCHS), rounds=2, iterations=1)


@pytest.mark.bench
@pytest.mark.parametrize("model", ["convnet3", "lenet"])
def test_bench_ddbench_evaluator(benchmark, setting, model):
    data, ds, device = setting
    cfg = ddbench_config(model, len(ds.images), 0, EPOCHS)
    benchmark.pedantic(lambda: evaluate(ds, data, cfg, device), rounds=2, iterations=1)
