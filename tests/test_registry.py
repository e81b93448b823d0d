import pytest

from benchmarks.errors import UserError
from benchmarks.registry import Registry


def test_duplicate_name_is_an_error():
    reg: Registry[int] = Registry("thing")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a", 2)


def test_unknown_name_suggests_close_matches():
    reg: Registry[int] = Registry("thing")
    reg.register("convnet3", 1)
    reg.register("lenet", 2)
    with pytest.raises(UserError, match="did you mean 'convnet3'"):
        reg.get("convnet")


def test_decorator_registers_under_function_name():
    reg: Registry[object] = Registry("thing")

    @reg.decorator()
    def herding():
        return 1

    assert reg.get("herding") is herding
    assert reg.names() == ["herding"] and "herding" in reg and len(reg) == 1


def test_plugins_are_discovered_through_entry_points():
    from benchmarks.methods import METHODS

    assert {"random", "herding", "full"} <= set(METHODS.names())
