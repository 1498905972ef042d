"""GPU time estimates of presets (docs/reproduce.md): epochs x ceil(images / batch) x measured ms,
only where the measured config is the preset's own."""
from __future__ import annotations

import pytest

from spacenas.errors import SpacenasError
from spacenas.presets import list_presets, load_preset
from spacenas.presets.estimate import estimate, step_times


def test_drnas_nb201_by_hand():
    e = estimate(load_preset("drnas-nb201"))
    # 100 epochs x ceil(25000 / 64) = 391 steps x 137.5 ms = 5,376,250 ms = 1.4934 h
    assert (e.epochs, e.steps_per_epoch, e.ms) == (100, 391, 137.5)
    assert e.hours == pytest.approx(5_376_250 / 3_600_000)
    assert e.text().startswith("1.5 h on one NVIDIA H100 (100 epochs x 391 steps x 137.5 ms")


def test_retrain_by_hand():
    e = estimate(load_preset("darts-retrain"))
    # 600 epochs x ceil(50000 / 96) = 521 steps x 85.1 ms = 26,602,260 ms = 7.39 h
    assert (e.epochs, e.steps_per_epoch) == (600, 521)
    assert e.hours == pytest.approx(26_602_260 / 3_600_000)


@pytest.mark.parametrize("name", list_presets())
def test_every_estimate_uses_its_own_config(name):
    p = load_preset(name)
    e = estimate(p)  # raises on a config mismatch
    if e is not None:
        cfg = step_times()[e.key]["config"]
        have = {**{k: p[k] for k in ("space", "method") if k in p}, **p["options"]}
        assert all(have.get(k) == v for k, v in cfg.items())


def test_a_step_time_of_another_config_is_refused():
    p = load_preset("drnas-nb201")
    p["options"]["C"] = 36
    with pytest.raises(SpacenasError, match=r"measured with another config.*'C': \(36, 16\)"):
        estimate(p)
    # progressive stages change the step: the NB201 DrNAS step time was measured without them
    q = load_preset("drnas-nb201-progressive")
    q["estimate"] = {"step": "h100-reference-nb201-drnas", "images": 25000}
    with pytest.raises(SpacenasError, match="progressive"):
        estimate(q)


def test_unknown_step_time_and_bad_spec():
    p = load_preset("darts-v1")
    p["estimate"] = {"step": "nope", "images": 1}
    with pytest.raises(SpacenasError, match="unknown step time 'nope' \\(known: h100-"):
        estimate(p)
    p["estimate"] = {"step": "h100-reference-darts-darts"}
    with pytest.raises(SpacenasError, match="must be"):
        estimate(p)
    assert estimate(load_preset("gdas-nb201")) is None
