"""--config FILE (YAML, TOML, JSON, a run dir's config.json), --preset, --print-config."""
import json
import sys
import types

import pytest
import yaml

from spacenas.cli.main import main
from spacenas.presets import INFO_KEYS, list_presets, load_preset


def run(capsys, *argv):
    """Exit code, stdout without the last line naming a fresh run dir (it has the time), stderr."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    out = "".join(ln for ln in out.splitlines(keepends=True) if not ln.startswith("run dir: "))
    return rc, out, err


def resolved(capsys, *argv) -> dict:
    rc, out, err = run(capsys, *argv, "--print-config")
    assert rc == 0, err
    return yaml.safe_load(out)


def write(path, text):
    path.write_text(text)
    return path


def test_print_config_round_trips_and_runs_the_same_search(capsys, tmp_path):
    argv = ["search", "--method", "evolution", "--budget", "12", "--seed", "3", "--set", "population_size=6",
            "--no-progress"]
    cfg = resolved(capsys, *argv)
    assert cfg["method"] == "evolution" and cfg["budget"] == 12 and cfg["seed"] == 3
    assert cfg["set"] == {"population_size": 6} and cfg["space"] == "nb201" and cfg["json"] is False
    f = write(tmp_path / "s.yaml", yaml.safe_dump(cfg))
    assert resolved(capsys, "search", "--config", f) == cfg
    rc1, out1, _ = run(capsys, *argv)
    rc2, out2, _ = run(capsys, "search", "--config", f)
    assert rc1 == rc2 == 0 and out1 == out2 and "found" in out1


def test_flags_given_override_the_file_and_defaults_do_not(capsys, tmp_path):
    f = write(tmp_path / "s.yaml", "method: random\nseed: 4\nbudget: 20\nset: {}\nsearch_metric: test\n")
    cfg = resolved(capsys, "search", "--config", f)
    assert (cfg["seed"], cfg["budget"], cfg["search_metric"]) == (4, 20, "test")  # not the argparse defaults
    cfg = resolved(capsys, "search", "--config", f, "--seed", "0", "--method", "local")
    assert (cfg["seed"], cfg["method"], cfg["budget"]) == (0, "local", 20)


def test_set_pairs_of_file_and_flags_add_up(capsys, tmp_path):
    f = write(tmp_path / "s.yaml", "method: evolution\nset:\n  population_size: 10\n  sample_size: 3\n")
    cfg = resolved(capsys, "search", "--config", f, "--set", "sample_size=5")
    assert cfg["set"] == {"population_size": 10, "sample_size": 5}


def test_toml_and_json_files(capsys, tmp_path):
    t = write(tmp_path / "s.toml", 'method = "dsm"\nbudget = 15\n[set]\nn_subspaces = 4\n')
    j = write(tmp_path / "s.json", json.dumps({"method": "dsm", "budget": 15, "set": {"n_subspaces": 4}}))
    a, b = resolved(capsys, "search", "--config", t), resolved(capsys, "search", "--config", j)
    assert a == b and a["budget"] == 15 and a["set"] == {"n_subspaces": 4}


def test_sweep_lists_and_scoped_options(capsys, tmp_path):
    f = write(tmp_path / "w.yaml", "methods: [random, dsm]\ndatasets: cifar10\nseeds: 3\nout: o\n"
                                   "set: {dsm: {n_subspaces: 3}}\nconstraints: ['params<=1M']\n")
    cfg = resolved(capsys, "sweep", "--config", f)
    assert cfg["methods"] == ["random", "dsm"] and cfg["datasets"] == ["cifar10"] and cfg["seeds"] == "3"
    assert cfg["set"] == {"dsm": {"n_subspaces": 3}} and cfg["constraint"] == ["params<=1M"]


@pytest.mark.parametrize("command,text,key,value", [
    ("search", "method: random\n", "method", "random"),
    ("sweep", "methods: random\nout: sw\n", "out", "sw"),
    ("train", "arch: a.txt\nspace: nb201\nset: {lr: 0.05}\n", "set", {"lr": 0.05}),
    ("autospace", "out: space.json\nrounds: 2\n", "rounds", 2),
    ("autospace-search", "manual_irb: true\nmethod: random\n", "manual_irb", True),
    ("report", "dir: sw\nno_plots: true\n", "no_plots", True),
    ("show", "arch: a.txt\nspace: nb201\n", "arch", "a.txt"),
])
def test_every_subcommand_takes_a_config_file(capsys, tmp_path, command, text, key, value):
    f = write(tmp_path / "c.yaml", text)
    assert resolved(capsys, command, "--config", f)[key] == value


def test_required_flags_are_checked_after_the_merge(capsys, tmp_path):
    rc, out, err = run(capsys, "search", "--print-config")
    assert rc == 2 and "required: --method" in err and err.count("\n") == 1
    rc, out, err = run(capsys, "report", "--no-plots")
    assert rc == 2 and "required: dir" in err


@pytest.mark.parametrize("text,needle", [
    ("method: random\nbogus: 1\n", "unknown key 'bogus' for 'spacenas search' (allowed: "),
    ("method: random\nseed: -1\n", "'seed': bad value -1"),
    ("method: random\njson: 'yes'\n", "'json': expected true or false"),
    ("method: random\nbudget: true\n", "'budget': expected"),
    ("- a\n- b\n", "expected a mapping of options"),
    ("method: [\n", "is not valid YAML"),
    ("kind: train\narch: x\n", "config of a run of kind 'train'; use it with 'spacenas train'"),
    ("kind: nonsense\n", "unknown kind 'nonsense'"),
])
def test_bad_files_are_one_line_errors(capsys, tmp_path, text, needle):
    f = write(tmp_path / "c.yaml", text)
    rc, out, err = run(capsys, "search", "--config", f, "--print-config")
    assert rc == 2 and needle in err and err.count("\n") == 1 and not out


def test_unknown_key_names_the_allowed_ones(capsys, tmp_path):
    f = write(tmp_path / "c.yaml", "arch: x\nspace: nb201\nbogus: 1\n")
    rc, _, err = run(capsys, "show", "--config", f)
    assert rc == 2 and err.strip().endswith("unknown key 'bogus' for 'spacenas show' (allowed: arch, out, plugin, space)")


def test_bad_extension_and_missing_file(capsys, tmp_path):
    rc, _, err = run(capsys, "search", "--config", write(tmp_path / "c.ini", "x"))
    assert rc == 2 and "unknown format '.ini' (allowed: .yaml, .yml, .toml, .json)" in err
    rc, _, err = run(capsys, "search", "--config", tmp_path / "none.yaml")
    assert rc == 2 and "cannot read config file" in err


def test_a_query_run_dirs_config_json_reruns_the_run(capsys, tmp_path):
    rd = tmp_path / "run"
    rc, out1, err = run(capsys, "search", "--method", "evolution", "--budget", "10", "--seed", "2",
                        "--set", "population_size=5", "--run-dir", rd, "--no-progress")
    assert rc == 0, err
    stored = json.loads((rd / "config.json").read_text())
    cfg = resolved(capsys, "search", "--config", rd / "config.json")
    assert (cfg["method"], cfg["budget"], cfg["seed"], cfg["dataset"]) == ("evolution", 10, 2, "cifar10")
    assert cfg["set"] == stored["method_config"] and cfg["set"]["population_size"] == 5
    rc, out2, err = run(capsys, "search", "--config", rd / "config.json", "--no-progress")
    assert rc == 0 and out2 == out1


def test_bookkeeping_keys_are_ignored_by_name(capsys, tmp_path):
    f = write(tmp_path / "config.json", json.dumps({"kind": "query", "version": "1", "created": "2026-01-01",
                                                    "method": "random", "budget": 7}))
    assert resolved(capsys, "search", "--config", f)["budget"] == 7


def test_exclusive_flags_override_the_files_choice(capsys, tmp_path):
    f = write(tmp_path / "c.yaml", "manual_irb: true\nmethod: random\n")
    cfg = resolved(capsys, "autospace-search", "--config", f, "--space-file", "s.json")
    assert cfg["space_file"] == "s.json" and cfg["manual_irb"] is False
    both = write(tmp_path / "d.yaml", "manual_irb: true\nspace_file: s.json\nmethod: random\n")
    rc, _, err = run(capsys, "autospace-search", "--config", both, "--print-config")
    assert rc == 2 and "not allowed together" in err


@pytest.fixture
def presets(monkeypatch):
    calls = []

    def load_preset(name):
        calls.append(name)
        if name != "paper":
            from spacenas.errors import SpacenasError

            raise SpacenasError(f"unknown preset {name!r} (allowed: paper)")
        return {"method": "evolution", "budget": 30, "seed": 1, "set": {"population_size": 8, "sample_size": 4}}

    monkeypatch.setitem(sys.modules, "spacenas.presets", types.SimpleNamespace(load_preset=load_preset, INFO_KEYS=INFO_KEYS))
    return calls


def test_preset_then_config_then_flags(capsys, tmp_path, presets):
    cfg = resolved(capsys, "search", "--preset", "paper")
    assert presets == ["paper"] and (cfg["method"], cfg["budget"], cfg["seed"]) == ("evolution", 30, 1)
    f = write(tmp_path / "c.yaml", "budget: 20\nset: {sample_size: 2}\n")
    cfg = resolved(capsys, "search", "--preset", "paper", "--config", f, "--seed", "9")
    assert (cfg["budget"], cfg["seed"]) == (20, 9) and cfg["set"] == {"population_size": 8, "sample_size": 2}
    rc, _, err = run(capsys, "search", "--preset", "nope", "--print-config")
    assert rc == 2 and "unknown preset 'nope'" in err


def test_without_the_presets_package_a_preset_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "spacenas.presets", None)  # import fails like a missing module
    rc, _, err = run(capsys, "search", "--preset", "paper", "--method", "random")
    assert rc == 2 and err == "spacenas: error: presets not available\n"


def test_derived_keys_of_a_kind_are_ignored_but_only_for_that_kind(capsys, tmp_path):
    doc = {"kind": "oneshot", "method": "darts", "epochs": 2, "arch_shapes": {"alpha": [6, 5]}}
    cfg = resolved(capsys, "search", "--config", write(tmp_path / "config.json", json.dumps(doc)))
    assert (cfg["method"], cfg["epochs"]) == ("darts", 2)
    doc["kind"] = "query"
    rc, _, err = run(capsys, "search", "--config", write(tmp_path / "q.json", json.dumps(doc)), "--print-config")
    assert rc == 2 and "unknown key 'arch_shapes'" in err


def test_list_keeps_plain_argparse(capsys):
    rc, _, err = run(capsys, "list")
    assert rc == 2 and "required: what" in err
    rc, _, err = run(capsys, "list", "spaces", "--config", "x.yaml")
    assert rc == 2 and "unrecognized arguments: --config" in err


def test_a_preset_in_the_recipes_schema(capsys, monkeypatch):
    """The shape of spacenas.presets' files: kind, options, data (a query preset's table data set) and
    provenance keys (ignored in the --preset layer, and only there)."""
    preset = {"name": "p", "title": "t", "paper": "x", "kind": "query", "space": "nb201", "method": "dsm",
              "data": "cifar100", "budget": 40, "options": {"radius": 3}, "sources": {"radius": "paper"},
              "other": {}, "reported": [{"value": "1"}], "reproduces": [], "needs": None, "required": []}
    monkeypatch.setitem(sys.modules, "spacenas.presets", types.SimpleNamespace(load_preset=lambda name: dict(preset), INFO_KEYS=INFO_KEYS))
    cfg = resolved(capsys, "search", "--preset", "p")
    assert (cfg["method"], cfg["dataset"], cfg["budget"], cfg["set"]) == ("dsm", "cifar100", 40, {"radius": 3})
    train = {"name": "r", "kind": "train", "space": "darts", "data": "cifar10", "options": {"epochs": 600},
             "sources": {}, "required": ["arch"]}
    monkeypatch.setitem(sys.modules, "spacenas.presets", types.SimpleNamespace(load_preset=lambda name: dict(train), INFO_KEYS=INFO_KEYS))
    cfg = resolved(capsys, "train", "--preset", "r", "--arch", "a.txt")
    assert (cfg["space"], cfg["data"], cfg["set"]) == ("darts", "cifar10", {"epochs": 600})
    rc, _, err = run(capsys, "search", "--preset", "r", "--print-config")
    assert rc == 2 and "use it with 'spacenas train'" in err


@pytest.mark.parametrize("kind", ["oneshot", "train"])
def test_a_run_dirs_config_json_repeats_the_run(kind, capsys, tmp_path, monkeypatch):
    """A one-shot search's and a train run's config.json, given back as --config, repeat the run."""
    monkeypatch.chdir(tmp_path)
    search = ["search", "--method", "darts", "--data", "digits", "--epochs", "1", "--set", "max_steps=2",
              "--set", "C=4", "--set", "N=1", "--no-progress"]
    assert run(capsys, *search, "--run-dir", "s1")[0] == 0
    if kind == "oneshot":
        first, again = ["--run-dir", "s1"], ["search", "--config", "s1/config.json", "--no-progress", "--run-dir", "s2"]
    else:
        train = ["train", "--arch", "s1", "--data", "digits", "--epochs", "1", "--set", "C=4", "--set", "N=1",
                 "--set", "batch_size=64", "--no-progress"]
        assert run(capsys, *train, "--run-dir", "t1")[0] == 0
        first, again = ["--run-dir", "t1"], ["train", "--config", "t1/config.json", "--no-progress", "--run-dir", "t2"]
    rc, out, err = run(capsys, *again)
    assert rc == 0, err
    a, b = first[1], again[-1]
    assert (tmp_path / a / "arch.txt").read_text() == (tmp_path / b / "arch.txt").read_text()
    ra, rb = (json.loads((tmp_path / d / "result.json").read_text()) for d in (a, b))
    keep = ("test_acc", "test_loss", "arch") if kind == "train" else ("arch", "benchmark")
    assert {k: ra.get(k) for k in keep} == {k: rb.get(k) for k in keep}


# ----- the AutoSpace kinds: config.json nests the DEA config, the network plan, the method options ----
AUTOSPACE = ["autospace", "--layers", "2", "--rounds", "1", "--population", "4", "--k", "2", "--seed", "3",
             "--set", "steps_per_round=2", "--set", "stem_channels=8", "--set", "batch_size=128",
             "--set", "tournament=2", "--no-progress"]


def test_an_autospace_run_dirs_config_json_repeats_the_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out1, err = run(capsys, *AUTOSPACE, "--run-dir", "a1")
    assert rc == 0, err
    cfg = resolved(capsys, "autospace", "--config", "a1/config.json")
    assert (cfg["layers"], cfg["rounds"], cfg["population"], cfg["k"], cfg["seed"]) == (None, 1, 4, 2, 3)
    assert cfg["set"]["steps_per_round"] == 2 and cfg["set"]["stem_channels"] == 8
    assert cfg["set"]["channels"] == [16, 24] and cfg["out"] is None  # the plan; no --out: the run dir's space.json
    rc, out2, err = run(capsys, "autospace", "--config", "a1/config.json", "--run-dir", "a2", "--no-progress")
    assert rc == 0, err
    assert json.loads((tmp_path / "a2/config.json").read_text()) == json.loads((tmp_path / "a1/config.json").read_text())
    r1, r2 = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("a1", "a2"))
    assert r1["layers"] == r2["layers"] and r1["fitness"] == r2["fitness"] and r1["losses"] == r2["losses"]
    assert out2 == out1.replace("a1/space.json", "a2/space.json")
    # flags override the file: another seed and round count, another depth (the file's channels/strides give way)
    cfg = resolved(capsys, "autospace", "--config", "a1/config.json", "--seed", "4", "--rounds", "2",
                   "--layers", "3", "--set", "lr=0.1")
    assert (cfg["seed"], cfg["rounds"], cfg["layers"], cfg["set"]["lr"]) == (4, 2, 3, 0.1)
    assert "channels" not in cfg["set"] and "strides" not in cfg["set"] and cfg["set"]["stem_channels"] == 8


def test_an_autospace_search_run_dirs_config_json_repeats_the_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    search = ["autospace-search", "--manual-irb", "--layers", "2", "--method", "random", "--budget", "1",
              "--set", "arch_epochs=1", "--set", "stem_channels=8", "--train-epochs", "1", "--seed", "1",
              "--no-progress"]
    rc, out1, err = run(capsys, *search, "--run-dir", "s1")
    assert rc == 0, err
    cfg = resolved(capsys, "autospace-search", "--config", "s1/config.json")
    assert (cfg["manual_irb"], cfg["method"], cfg["budget"], cfg["train_epochs"], cfg["seed"]) == (True, "random", 1, 1, 1)
    assert cfg["layers"] == 2 and cfg["set"] == {"arch_epochs": 1, "stem_channels": 8}  # depth from the run's plan
    rc, out2, err = run(capsys, "autospace-search", "--config", "s1/config.json", "--run-dir", "s2", "--no-progress")
    assert rc == 0, err
    assert out2 == out1
    assert json.loads((tmp_path / "s2/config.json").read_text()) == json.loads((tmp_path / "s1/config.json").read_text())
    r1, r2 = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("s1", "s2"))
    assert r1 == r2 and (tmp_path / "s1/arch.txt").read_text() == (tmp_path / "s2/arch.txt").read_text()
    # another method drops the file's method options (random's arch_epochs), not the network plan
    cfg = resolved(capsys, "autospace-search", "--config", "s1/config.json", "--method", "proxyless")
    assert cfg["method"] == "proxyless" and cfg["set"] == {"stem_channels": 8}
    # a space file instead of the manual space drops the plan too (the file brings its own)
    cfg = resolved(capsys, "autospace-search", "--config", "s1/config.json", "--space-file", "x.json")
    assert (cfg["space_file"], cfg["manual_irb"], cfg["layers"], cfg["set"]) == ("x.json", False, None, {"arch_epochs": 1})


@pytest.mark.parametrize("command,doc,needle", [
    ("autospace", {"kind": "autospace", "plan": {"channels": [8], "bogus": 1}},
     "unknown key 'plan.bogus' (allowed: stem_channels, channels, strides, in_channels, image_size, num_classes)"),
    ("autospace", {"kind": "autospace", "config": [1, 2]}, "'config' must be a mapping"),
    ("autospace", {"kind": "autospace", "config": {"rounds": 1}, "bogus": 2}, "unknown key 'bogus' for 'spacenas autospace'"),
    ("autospace-search", {"kind": "autospace-search", "manual_irb": True, "method": "random",
                          "options": {"method": {}, "extra": {}}}, "unknown key 'options.extra' (allowed: method, plan)"),
    ("autospace-search", {"kind": "autospace", "config": {}}, "config of a run of kind 'autospace'; use it with 'spacenas autospace'"),
])
def test_bad_autospace_run_configs_are_one_line_errors(capsys, tmp_path, command, doc, needle):
    f = write(tmp_path / "config.json", json.dumps(doc))
    rc, out, err = run(capsys, command, "--config", f, "--print-config")
    assert rc == 2 and needle in err and err.count("\n") == 1 and not out


def test_an_unknown_dea_option_in_an_autospace_config_json_is_a_one_line_error(capsys, tmp_path):
    f = write(tmp_path / "config.json", json.dumps({"kind": "autospace", "config": {"rounds": 1, "bogus": 2}}))
    rc, out, err = run(capsys, "autospace", "--config", f, "--run-dir", tmp_path / "r", "--no-progress")
    assert rc == 2 and "unknown autospace option 'bogus' (allowed: " in err and err.count("\n") == 1


def test_the_autospace_key_tables_match_the_configs():
    """config_file spells the AutoSpace keys out (parsing flags imports no torch); they must stay
    those of the network plan and the DEA config."""
    from spacenas.cli import config_file
    from spacenas.nn.open_cell_net import NetPlan
    from spacenas.strategies.autospace import AutoSpaceConfig
    from spacenas.strategies.autospace.build import PLAN_KEYS

    assert config_file.NET_KEYS == PLAN_KEYS
    assert set(config_file.NET_KEYS + config_file.NET_FROM_DATA) == set(NetPlan.model_fields)
    assert set(config_file.DEA_FLAGS) <= set(AutoSpaceConfig.model_fields)


#: the subcommand that runs a preset of each kind
_SUBCOMMAND = {"oneshot": "search", "query": "search", "train": "train", "autospace": "autospace"}


@pytest.mark.parametrize("name", list_presets())
def test_every_shipped_preset_resolves_on_the_command_line(capsys, name):
    """Found by a new user: a provenance key the --preset layer did not know (``estimate``) made
    five presets unusable from the CLI while the Python API took them."""
    p = load_preset(name)
    extra = ["--arch", "arch.txt"] if p["kind"] == "train" else []  # a retrain preset needs the arch
    rc, out, err = run(capsys, _SUBCOMMAND[p["kind"]], "--preset", name, "--print-config", *extra)
    assert rc == 0, err
    cfg = yaml.safe_load(out)
    assert not set(cfg) & (INFO_KEYS - {"name"})


def test_epochs_on_the_command_line_overrides_a_presets_and_a_files_set_epochs(capsys, tmp_path):
    """Found by a new user: ``--preset drnas-nb201 --epochs 2`` was refused ("--epochs and --set
    epochs=... both given") because the preset's epochs come as a --set option."""
    cfg = resolved(capsys, "search", "--preset", "drnas-nb201", "--epochs", "2")
    assert cfg["epochs"] == 2 and "epochs" not in cfg["set"] and cfg["set"]["arch_lr"] == 0.0003
    f = write(tmp_path / "s.yaml", yaml.safe_dump(cfg))
    assert resolved(capsys, "search", "--config", f) == cfg  # the printed config runs as --config
    f2 = write(tmp_path / "t.yaml", "method: darts\nset: {epochs: 7, batch_size: 32}\n")
    cfg = resolved(capsys, "search", "--config", f2, "--epochs", "3")
    assert cfg["epochs"] == 3 and cfg["set"] == {"batch_size": 32}
    assert "epochs" in resolved(capsys, "search", "--config", f2)["set"]  # without --epochs the file's stays
    # the same rule for every flag named like a --set key: autospace --rounds over a preset's rounds
    cfg = resolved(capsys, "autospace", "--preset", "autospace-imagenet", "--rounds", "1")
    assert cfg["rounds"] == 1 and "rounds" not in cfg["set"]
    # both on the command line stays an error (nothing says which one is meant)
    rc, _, err = run(capsys, "search", "--method", "darts", "--set", "epochs=3", "--epochs", "2",
                     "--data", "digits", "--no-progress")
    assert rc != 0 and "both given" in err


def test_another_method_with_a_preset_names_the_preset(capsys):
    """Found by a new user: `--preset dsm-nas-nb201 --method evolution` failed with "unknown option
    'n_subspaces'", without a word of the preset that brought it."""
    rc, _, err = run(capsys, "search", "--preset", "dsm-nas-nb201", "--method", "evolution")
    assert rc == 2 and "with preset 'dsm-nas-nb201', a recipe for method 'dsm'" in err
    assert resolved(capsys, "search", "--preset", "dsm-nas-nb201", "--method", "dsm")["method"] == "dsm"
