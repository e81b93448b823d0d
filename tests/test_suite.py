import pytest

from benchmarks.errors import UserError
from benchmarks.suite import load_suite, packaged_suites, parse_suite


def test_quick_suite_meets_the_spec():
    s = load_suite("quick")
    g = s.grid
    assert g["datasets"] == ["digits"] and {"random", "herding", "full"} <= set(g["methods"])
    assert set(g["ipc"]) == {1, 10} and len(g["models"]) >= 3 and len(g["optimizers"]) >= 3 and len(g["seeds"]) >= 2
    cells = s.cells()
    assert len({c.method for c in cells}) == len(g["methods"])
    assert all(c.ipc is None for c in cells if c.method == "full")
    assert len(cells) == len({str(c.config) for c in cells})


@pytest.mark.parametrize("name", sorted(packaged_suites()))
def test_packaged_suites_parse(name):
    assert load_suite(name).cells()


@pytest.mark.parametrize(("doc", "message"), [
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adma"]}},
     "did you mean .*'adam'"),
    ({"grid": {"datasets": ["digits"], "methods": ["randon"], "models": ["convnet3"], "optimizers": ["adam"]}},
     "did you mean 'random'"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "model": ["convnet3"], "optimizers": ["adam"]}},
     "unknown grid key 'model'"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"],
               "ipc": [0]}}, "ipc must be"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]},
      "eval": {"step": 3}}, "did you mean 'steps'"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]},
      "eval": {"steps": -3}}, "must be positive"),
])
def test_bad_suites_fail_before_running(doc, message):
    with pytest.raises(UserError, match=message):
        parse_suite(doc)


def test_unknown_suite_name():
    with pytest.raises(UserError, match="did you mean 'quick'"):
        load_suite("quik")
