"""Every one-shot and retraining preset shrinks to a CPU try on the embedded digits with the flags
docs/presets.md names (found by a new user: "--data digits --epochs 1 --set C=4" failed for four
presets, with messages that did not say how to fix them)."""
from __future__ import annotations

import json

import pytest

from spacenas.cli.main import main
from spacenas.presets import COMMANDS, list_presets, load_preset

COMMON = ["--data", "digits", "--no-progress"]
SEARCH = ["--epochs", "2", "--set", "max_steps=2", "--set", "batch_size=16"]
#: the small network per space (docs/presets.md)
SMALL = {"nb201": ["--set", "C=4", "--set", "N=1"], "darts": ["--set", "C=4", "--set", "layers=3"]}
#: Config-A's beta from an earlier search (14 edges x 9 activations per cell type; zeros: uniform)
FROZEN_BETA = json.dumps({"normal": [[0.0] * 9] * 14, "reduce": [[0.0] * 9] * 14})
PROGRESSIVE = ["--set", "progressive.stage_epochs=[1,1]", "--set", "progressive.stage_warmup_epochs=0"]
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DARTS_ARCH = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
              "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
              "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
              "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
              "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")


def cpu_try(name: str, required: bool = True) -> list[str]:
    p = load_preset(name)
    space = p.get("space") or p["options"].get("space") or ("darts" if "darts" in name else "nb201")
    argv = [COMMANDS[p["kind"]], "--preset", name, *COMMON]
    if p["kind"] == "train":
        small = ["--set", "C=4", "--set", "layers=3"] if space == "darts" else SMALL["nb201"]
        return [*argv, "--arch", DARTS_ARCH if space == "darts" else NB201_ARCH, "--epochs", "1", *small,
                "--set", "cutout=0", "--set", "batch_size=64"]
    argv += [*SEARCH, *SMALL[space]]
    if "progressive" in p["options"]:
        argv += PROGRESSIVE + (["--set", "C=12"] if space == "darts" else [])
    if required and "frozen_beta" in (p.get("required") or []):
        argv += ["--set", "frozen_beta=" + FROZEN_BETA]
    return argv


TRIED = [n for n in list_presets() if load_preset(n)["kind"] in ("oneshot", "train")]


@pytest.mark.parametrize("name", TRIED)
def test_a_preset_shrinks_to_a_cpu_try(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = cpu_try(name)
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, (argv, err[-2000:])
    assert ("derived" in out) or ("test accuracy" in out), out[-2000:]


def test_a_missing_required_option_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(cpu_try("adarts-darts-config-a", required=False)) == 2
    assert "preset 'adarts-darts-config-a' needs 'frozen_beta': give --set frozen_beta=" in capsys.readouterr().err
