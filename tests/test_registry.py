"""`Registry`, the one lookup by name of the package: register (decorator or call), list, get,
create, a duplicate refused, an unknown name in one sentence naming the choices, the read-only
mapping old call sites use; and every entry of the five registries can be looked up."""

import pytest

from nasbench1shot1.blackbox import OPTIMIZERS, get_optimizer
from nasbench1shot1.blackbox.base import Optimizer
from nasbench1shot1.data.registry import DATASETS
from nasbench1shot1.methods import METHODS, OneShotMethod, get_method
from nasbench1shot1.registry import Registry, UnknownName
from nasbench1shot1.spaces import SEARCH_SPACES, SearchSpace, get_search_space, list_spaces
from nasbench1shot1.tracking import TRACKERS, Tracker


def fruits() -> Registry:
    reg = Registry("fruit")

    @reg.register("pear")
    def pear(ripe: bool = False) -> str:
        return f"pear ripe={ripe}"

    reg.register("apple", lambda: "apple")
    return reg


def test_register_as_decorator_or_call_returns_the_object():
    reg = Registry("thing")

    @reg.register("b")
    class B:
        pass

    obj = object()
    assert reg.register("a", obj) is obj
    assert reg.get("b") is B and reg.get("a") is obj


def test_list_get_create():
    reg = fruits()
    assert reg.list() == ["apple", "pear"]
    assert reg.get("apple")() == "apple"
    assert reg.create("pear", ripe=True) == "pear ripe=True"
    assert reg.create("apple") == "apple"


def test_integer_names_sort_numerically_and_registration_order_on_request():
    numbers = Registry("number")
    for n in (10, 2, 1):
        numbers.register(n, str(n))
    assert numbers.list() == [1, 2, 10]
    ordered = Registry("data set", sort=False)
    ordered.register("digits", 1)
    ordered.register("cifar10", 2)
    assert ordered.list() == list(ordered) == ["digits", "cifar10"]


def test_a_duplicate_name_is_refused_in_one_sentence():
    reg = fruits()
    with pytest.raises(ValueError, match="^fruit 'pear' is already registered") as error:
        reg.register("pear", object())
    assert "\n" not in str(error.value)
    assert reg.create("pear") == "pear ripe=False"  # the first entry stays


def test_a_name_must_be_a_string_or_an_integer():
    for bad in (True, 1.5, None, ("a",)):
        with pytest.raises(TypeError, match="fruit name must be a string or an integer"):
            fruits().register(bad, object())


def test_an_unknown_name_is_one_sentence_naming_kind_value_and_choices():
    reg = fruits()
    for lookup in (reg.get, reg.__getitem__, reg.create):
        with pytest.raises(UnknownName) as error:
            lookup("banana")
        assert str(error.value) == "unknown fruit 'banana', expected one of apple, pear"
        assert isinstance(error.value, ValueError)
    for bad in ([1], None, True):  # unhashable or not a name: still the one sentence
        with pytest.raises(UnknownName) as error:
            reg.get(bad)
        assert str(error.value) == f"unknown fruit {bad!r}, expected one of apple, pear"
    with pytest.raises(UnknownName, match="^unknown fruit 'x', expected one of none "):
        Registry("fruit").get("x")


def test_the_example_sentence_of_the_issue():
    with pytest.raises(ValueError) as error:
        get_method("dartz")
    assert str(error.value) == (
        "unknown method 'dartz', expected one of darts, enas, gdas, pc_darts, random_ws")


def test_reads_as_a_mapping():
    reg = fruits()
    assert "pear" in reg and "banana" not in reg and [1] not in reg and None not in reg
    assert list(reg) == sorted(reg) == reg.list() == list(reg.keys())
    assert len(reg) == 2
    assert reg["apple"] is reg.get("apple")
    assert ", ".join(reg) == "apple, pear"
    assert dict(reg.items()) == dict(zip(reg.keys(), reg.values()))
    assert "apple" in repr(reg) and "fruit" in repr(reg)


def test_bools_and_floats_are_not_integer_names():
    assert 1 in SEARCH_SPACES
    assert True not in SEARCH_SPACES and 1.0 not in SEARCH_SPACES
    with pytest.raises(UnknownName, match="^unknown search space True, expected one of 1, 2, 3$"):
        SEARCH_SPACES.get(True)


def test_search_space_lookups_keep_their_forms():
    assert list_spaces() == SEARCH_SPACES.list() == [1, 2, 3]
    assert get_search_space("2") is get_search_space(2) is SEARCH_SPACES[2]
    for bad, shown in ((4, "4"), ("4", "'4'"), ("one", "'one'")):
        with pytest.raises(UnknownName,
                           match=f"^unknown search space {shown}, expected one of 1, 2, 3$"):
            get_search_space(bad)


REGISTRIES = {
    "methods": (METHODS, lambda entry: isinstance(entry, type)
                and issubclass(entry, OneShotMethod)),
    "spaces": (SEARCH_SPACES, lambda entry: isinstance(entry, SearchSpace)),
    "optimizers": (OPTIMIZERS, lambda entry: isinstance(entry, Optimizer)),
    "data sets": (DATASETS, callable),
    "trackers": (TRACKERS, lambda entry: isinstance(entry, type) and issubclass(entry, Tracker)),
}
ENTRIES = [(kind, name) for kind, (registry, _) in REGISTRIES.items() for name in registry.list()]


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_every_entry_of_the_five_registries_can_be_looked_up(kind: str, name):
    registry, is_entry = REGISTRIES[kind]
    entry = registry.get(name)
    assert is_entry(entry) and registry[name] is entry and name in registry
    if kind == "methods":
        assert get_method(name) is entry and entry.name == name
    elif kind == "spaces":
        assert get_search_space(name) is entry and entry.number == name
    elif kind == "optimizers":
        assert get_optimizer(name) is entry and entry.name == name


def test_the_five_registries_hold_what_they_held_before():
    assert METHODS.list() == ["darts", "enas", "gdas", "pc_darts", "random_ws"]
    assert DATASETS.list() == ["digits", "cifar10"]  # the default first, as the configs list it
    assert TRACKERS.list() == ["wandb", "none"]
    # and the two that use estimators (issue 11)
    assert OPTIMIZERS.list() == ["bananas", "bohb", "hyperband", "random_search", "re_prescreen",
                                 "regularized_evolution", "reinforce", "smac", "tpe"]
    with pytest.raises(ValueError, match="^unknown data set 'mnist', expected one of digits, "
                                         "cifar10$"):
        DATASETS.create("mnist", None, 0)
    with pytest.raises(ValueError, match="^unknown optimizer 'x', expected one of bananas, bohb, "):
        get_optimizer("x")


def test_every_registered_entry_has_its_config_schema_and_back():
    """The config groups (conf/) offer exactly what the registries hold: a method, optimizer,
    data set or tracker is usable from every app once it and its schema are registered."""
    from nasbench1shot1.blackbox import OPTIMIZERS
    from nasbench1shot1.conf.data import DATA_OPTIONS
    from nasbench1shot1.conf.logger import LOGGER_CONFIGS
    from nasbench1shot1.conf.method import METHOD_CONFIGS
    from nasbench1shot1.conf.optimizer import OPTIMIZER_CONFIGS
    from nasbench1shot1.data.registry import DATASETS
    from nasbench1shot1.methods import METHODS
    from nasbench1shot1.tracking import TRACKERS

    assert METHOD_CONFIGS.list() == METHODS.list()
    assert OPTIMIZER_CONFIGS.list() == OPTIMIZERS.list()
    assert DATA_OPTIONS.list() == DATASETS.list()
    assert LOGGER_CONFIGS.list() == TRACKERS.list()
    for name, schema in METHOD_CONFIGS.items():
        assert schema().name == name
    for name, option in DATA_OPTIONS.items():
        assert option.name == name


def test_help_is_the_registered_sentence_or_the_docstrings_first():
    reg = Registry("thing")

    class Documented:
        """A thing that does it. More words here."""

    reg.register("documented", Documented)
    reg.register("instance", Documented())
    reg.register("told", Documented(), help="Told apart.")
    class Bare:
        pass

    reg.register("bare", Bare())
    assert reg.help("documented") == "A thing that does it."
    assert reg.help("instance") == "A thing that does it."
    assert reg.help("told") == "Told apart."
    assert reg.help("bare") == ""
    with pytest.raises(UnknownName):
        reg.help("missing")
