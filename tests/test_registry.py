"""spacenas.registry: each name, what it loads and its description are stated once (side by side)."""
from __future__ import annotations

from spacenas import registry


def test_every_builtin_has_exactly_one_description_and_its_kind():
    assert set(registry.BUILTIN_SPACES) <= set(registry.SPACE_DESCRIPTIONS)
    builtin = {**registry.QUERY_STRATEGIES, **registry.ONESHOT_STRATEGIES}
    for name, target in builtin.items():
        if not isinstance(target, str):  # a plugin's
            continue
        kind = "query-based" if name in registry.QUERY_STRATEGIES else "one-shot"
        assert registry.METHOD_DESCRIPTIONS[name].endswith(f" ({kind})"), name
    assert set(registry.AUTOSPACE_METHOD_DESCRIPTIONS) == set(registry.AUTOSPACE_METHODS)
    assert all(d.endswith(" (autospace-search)") for d in registry.AUTOSPACE_METHOD_DESCRIPTIONS.values())


def test_described_splits_entries_and_descriptions_in_order():
    entries, descriptions = registry._described({"b": ("m:B", "bee"), "a": ("m:A", "ay")}, "kind")
    assert list(entries.items()) == [("b", "m:B"), ("a", "m:A")]
    assert descriptions == {"b": "bee (kind)", "a": "ay (kind)"}
    assert registry._described({"x": (len, "plain")})[1] == {"x": "plain"}


def test_every_registered_target_loads():
    for table in (registry.SPACES, registry.QUERY_STRATEGIES, registry.ONESHOT_STRATEGIES, registry.AUTOSPACE_METHODS):
        for name, target in table.items():
            assert callable(registry.load(target)), name
