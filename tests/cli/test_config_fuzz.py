"""Fuzz over every typed config (every StrictModel subclass in the package): random values for
every field either build a config whose floats are finite, or raise a one-line SpacenasError that
names the field - never another exception. Values that break a field's declared bound are always
refused. Time-bounded: few examples, no deadline."""
from __future__ import annotations

import importlib
import math
import pkgutil

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spacenas
from spacenas import registry
from spacenas.config import StrictModel, build_config, is_bool_type
from spacenas.errors import SpacenasError
from spacenas.strategies.oneshot.build import supernet_options_model

SKIP_MODULES = ("spacenas.__main__",)


def _all_configs() -> list[type[StrictModel]]:
    for m in pkgutil.walk_packages(spacenas.__path__, "spacenas."):
        if m.name not in SKIP_MODULES:
            importlib.import_module(m.name)
    # the supernets' option models are made from their constructors on demand: make them all here
    for target in registry.SUPERNETS.values():
        supernet_options_model(registry.load(target))
    seen, todo = [], list(StrictModel.__subclasses__())
    while todo:
        c = todo.pop()
        if c not in seen and c.__module__.startswith("spacenas."):
            seen.append(c)
        todo.extend(c.__subclasses__())
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


CONFIGS = _all_configs()

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3), st.floats()), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=3),
    st.sampled_from(["", "nan", "inf", "-1", "0", "1e309", "[" * 50, "cpu", "tpu", "softmax"]),
)


def _assert_contract(model, values):
    try:
        cfg = build_config(model, values, where="fuzz")
    except SpacenasError as e:
        msg = str(e)
        assert msg and "\n" not in msg, msg
        return None
    for name in model.model_fields:
        v = getattr(cfg, name)
        if isinstance(v, float):
            assert math.isfinite(v), (model.__name__, name, v)
    return cfg


def test_every_config_is_found():
    names = {c.__name__ for c in CONFIGS}
    assert {"LoopConfig", "TrainConfig", "GDASConfig", "DSMConfig", "AutoSpaceConfig", "ProxylessConfig",
            "SupernetRunConfig", "MobileNetShape", "NetPlan", "NB201SupernetOptions", "DARTSSupernetOptions"} <= names


@pytest.mark.parametrize("model", CONFIGS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_values_never_escape_as_tracebacks(model, data):
    fields = list(model.model_fields)
    if not fields:
        with pytest.raises(SpacenasError, match="unknown option"):
            build_config(model, {"x": 1})
        return
    chosen = data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True))
    values = {f: data.draw(ANY_VALUE, label=f) for f in chosen}
    _assert_contract(model, values)


def _past(bound, kind: str):
    """A value that breaks ``kind`` (gt/ge/lt/le) ``bound``: the bound itself for strict ones."""
    step = 1 if isinstance(bound, int) else 0.5
    return {"gt": bound, "lt": bound, "ge": bound - step, "le": bound + step}[kind]


def _bounded_fields():
    """(model, field, a value just past one of its declared numeric bounds)."""
    kinds = {at.Gt: "gt", at.Ge: "ge", at.Lt: "lt", at.Le: "le"}
    return [pytest.param(model, name, _past(getattr(m, kinds[type(m)]), kinds[type(m)]),
                         id=f"{model.__name__}.{name}.{kinds[type(m)]}")
            for model in CONFIGS for name, info in model.model_fields.items()
            for m in info.metadata if type(m) in kinds]


@pytest.mark.parametrize("model, field, bad", _bounded_fields())
def test_declared_bounds_are_enforced_with_the_field_named(model, field, bad):
    with pytest.raises(SpacenasError) as e:
        build_config(model, {field: bad}, where="fuzz")
    assert f"'{field}" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("model", CONFIGS, ids=lambda c: c.__name__)
def test_non_finite_floats_refused_everywhere(model):
    for name, info in model.model_fields.items():
        ann = str(info.annotation)
        if "float" not in ann:
            continue
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(SpacenasError, match=f"'{name}[.']"):
                build_config(model, {name: bad})


def _bool_fields():
    return [pytest.param(model, name, id=f"{model.__name__}.{name}")
            for model in CONFIGS for name, info in model.model_fields.items() if is_bool_type(info.annotation)]


@pytest.mark.parametrize("model, field", _bool_fields())
def test_bool_fields_take_only_true_or_false(model, field):
    """No lax bools anywhere (was: ``--set fused=5`` built a fused supernet, ``"yes"`` / ``1`` / ``"off"``
    passed pydantic's lax parsing): one line naming the key and true/false."""
    from pydantic import ValidationError
    required = [n for n, i in model.model_fields.items() if i.is_required() and n != field]
    for bad in (5, 1, 0, 1.0, "yes", "true", "off", "", [True]):
        if required:  # the other errors (required fields) may come first: look for this field's
            with pytest.raises(ValidationError) as ve:
                model(**{field: bad})
            assert [e["msg"] for e in ve.value.errors() if e["loc"] == (field,)] == ["expected true or false"]
            continue
        with pytest.raises(SpacenasError) as e:
            build_config(model, {field: bad}, where="fuzz")
        assert f"for '{field}': expected true or false" in str(e.value) and "\n" not in str(e.value)
    for good in (True, False):
        if required:
            with pytest.raises(ValidationError) as ve:
                model(**{field: good})
            assert not [e for e in ve.value.errors() if e["loc"] == (field,)]
        else:
            assert getattr(build_config(model, {field: good}), field) is good


def test_bool_fields_are_found():
    names = {(v.values[0].__name__, v.values[1]) for v in _bool_fields()}
    assert {("NB201SupernetOptions", "fused"), ("DARTSSupernetOptions", "bn_affine"), ("DARTSConfig", "second_order"),
            ("DSMConfig", "skip_seen"), ("TrainConfig", "nesterov")} <= names
