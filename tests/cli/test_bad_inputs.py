"""Bad input -> one line on stderr, exit 2, no traceback, nothing written that looks finished.

The cases come from ../shared/notes/bad-inputs-failing.txt (its ids are kept as test ids); each
group covers one kind of input: empty names, ``--set`` values, devices, seeds, data files,
binary files given as text, output paths, and numerical faults (lr=1e6 on every method family).
Most cases run :func:`spacenas.cli.main` in this process (fast); one case per group runs
``python -m spacenas`` in a subprocess, as a user would. The run-dir cases (broken checkpoints on
resume, other settings, odd dir names, supernet files and caches, sweep files) are here too;
locks and kill/resume are in test_runs.py. Cases that fail during the work (after info notes on
stderr) run with -q, which leaves only warnings and the error.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spacenas.cli.main import main
from support import ROOT

NB201_ARCH = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|skip_connect~1|none~2|"
DARTS_ARCH = ("Genotype(normal=[('sep_conv_3x3', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), ('avg_pool_3x3', 2), "
              "('sep_conv_3x3', 2), ('sep_conv_5x5', 3), ('sep_conv_3x3', 3), ('sep_conv_3x3', 4)], "
              "normal_concat=[2, 3, 4, 5], reduce=[('dil_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), "
              "('max_pool_3x3', 1), ('avg_pool_3x3', 2), ('max_pool_3x3', 3), ('max_pool_3x3', 2), "
              "('skip_connect', 4)], reduce_concat=[2, 3, 4, 5])")
DARTS_TINY = ["search", "--no-progress", "--method", "darts", "--data", "digits", "--epochs", "1",
              "--set", "C=4", "--set", "N=1", "--set", "max_steps=2"]
TRAIN_NB201 = ["train", "--no-progress", "--arch", NB201_ARCH, "--space", "nb201", "--data", "digits",
               "--epochs", "1", "--set", "C=4", "--set", "N=1"]
AUTOSPACE = ["autospace", "--no-progress", "--rounds", "1", "--population", "3", "--k", "2", "--set",
             "steps_per_round=2", "--set", "tournament=2", "--layers", "1"]
DEEP = "[" * 100000


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """``spacenas ARGV`` in this process: (exit code, stderr)."""
    rc = main(argv)
    return rc, capsys.readouterr().err


def run_cli(argv: list[str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    """``python -m spacenas ARGV`` in a subprocess with this tree on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "spacenas", *argv], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr


def assert_one_line(rc: int, err: str, *expected: str) -> str:
    """Exit 2, no traceback, and exactly one error line, the last one on stderr. Notes printed before
    the work went wrong (the arch_lr scaling of a short search, the augmentation of a train run, the
    time estimate) may precede it; nothing else."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    errors = [ln for ln in lines if ln.startswith("spacenas: error: ")]
    assert rc == 2 and len(errors) == 1 and lines[-1] == errors[0], (rc, err)
    notes = ("arch_lr ", "augmentation", "estimated time", "warning: ")
    assert all(ln.startswith(notes) for ln in lines[:-1]), (rc, err)
    for e in expected:
        assert e in lines[-1], (e, lines[-1])
    return lines[-1]


# ----- empty strings are errors, not the default ------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    pytest.param(["search", "--no-progress", "--method", "random", "--budget", "3", "--search-metric", ""],
                 "--search-metric", id="s_metric_empty"),
    pytest.param(["search", "--no-progress", "--method", "random", "--dataset", ""], "--dataset", id="s_dataset_empty"),
    pytest.param(["search", "--no-progress", "--method", "mo-evolution", "--objectives", ""], "--objectives",
                 id="h_objectives_empty"),
    pytest.param([*DARTS_TINY, "--device", ""], "--device", id="o_device_empty"),
    pytest.param(["sweep", "--no-progress", "--methods", "random", "--seeds", "1", "--out", "o", "--search-metric", ""],
                 "--search-metric", id="w_metric_empty"),
    pytest.param([*TRAIN_NB201, "--device", ""], "device ''", id="t_device_empty"),
])
def test_empty_names(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(argv, capsys), expected)
    assert not (tmp_path / "o").exists()


# ----- a missing --arch path is named as such (found by a new user) -------------------------------
@pytest.mark.parametrize("argv", [
    pytest.param(["train", "--no-progress", "--arch", "runs/doesnotexist", "--data", "digits"], id="t_arch_dir_no_space"),
    pytest.param(["train", "--no-progress", "--arch", "runs/doesnotexist", "--space", "nb201", "--data", "digits"],
                 id="t_arch_dir_nb201"),
    pytest.param(["train", "--no-progress", "--arch", "genotype.txt", "--space", "darts", "--data", "digits"],
                 id="t_arch_file_darts"),
])
def test_missing_arch_path(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(argv, capsys), "no such file or run dir", argv[3])


def test_an_arch_text_without_space_trains_in_the_space_it_fits(capsys, tmp_path, monkeypatch):
    """As `show` does: the one space whose format the text fits (here NB201)."""
    monkeypatch.chdir(tmp_path)
    rc = main(["train", "--no-progress", "--json", "--arch", NB201_ARCH, "--data", "digits", "--epochs", "1",
               "--set", "C=4", "--set", "N=1", "--run-dir", "t"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert '"space": "nb201"' in out and "Traceback" not in err


@pytest.mark.parametrize("cmd", [["train", "--no-progress", "--data", "digits", "--arch"], ["show"]])
def test_a_mistyped_run_dir_name_is_neither_a_path_nor_an_arch_text(cmd, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = assert_one_line(*run_main([*cmd, "drnas-typo"], capsys), "'drnas-typo' is neither a file or run dir nor "
                          "the text of an architecture")
    assert "--space is required" not in err


def test_export_dir_without_export(capsys, tmp_path, monkeypatch):
    """Found by a new user: --export-dir without --export was silently ignored."""
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main([*TRAIN_NB201, "--export-dir", "out"], capsys), "--export-dir out without --export")
    assert not (tmp_path / "out").exists()


# ----- --set values that cannot be right: refused at parse time ---------------------------------
@pytest.mark.parametrize("argv, expected", [
    pytest.param(["search", "--no-progress", "--method", "dsm", "--budget", "5", "--set", "lr=Infinity"],
                 "'lr': Input should be a finite number", id="s_set_inf_float"),
    pytest.param(["search", "--no-progress", "--method", "dsm", "--set", "n_subspaces=10000"],
                 "'n_subspaces': Input should be less than or equal to 256", id="s_dsm_huge_k"),
    pytest.param(["search", "--no-progress", "--method", "dsm", "--set", f"init_archs={DEEP}"],
                 "nested deeper than 32", id="s_set_deepjson"),
    pytest.param(["search", "--no-progress", "--method", "dsm", "--budget", "5", "--set", f"init_archs={NB201_ARCH}"],
                 """a list is JSON: --set 'init_archs=["...", "..."]'""", id="s_set_list_as_text"),
    pytest.param(["sweep", "--no-progress", "--methods", "dsm", "--datasets", "cifar10", "--seeds", "1", "--budget",
                  "3", "--out", "o", "--set", f"dsm.init_archs={DEEP}"], "nested deeper than 32",
                 id="x_sweep_set_deepjson"),
    pytest.param([*TRAIN_NB201, "--set", f"lr={DEEP}"], "nested deeper than 32", id="x_train_set_deepjson"),
    pytest.param([*DARTS_TINY, "--set", "C=0"], "bad value 0 for 'C': expected an integer >= 1", id="o_set_C0"),
    pytest.param([*DARTS_TINY, "--set", "C=-4"], "bad value -4 for 'C'", id="o_set_Cneg"),
    pytest.param([*DARTS_TINY, "--set", "C=4.5"], "bad value 4.5 for 'C'", id="o_set_Cfloat"),
    pytest.param([*DARTS_TINY, "--set", "N=0"], "bad value 0 for 'N'", id="o_set_N0"),
    pytest.param([*DARTS_TINY, "--set", "lr=NaN"], "'lr': Input should be a finite number", id="o_set_lr_nan"),
    pytest.param([*DARTS_TINY, "--set", "lr=-1"], "'lr': Input should be greater than 0", id="o_set_lr_neg"),
    pytest.param([*DARTS_TINY, "--set", "lr=Infinity"], "finite number", id="n_darts_lr_inf"),
    pytest.param([*DARTS_TINY, "--set", "arch_lr=NaN"], "'arch_lr': Input should be a finite number",
                 id="o_set_archlr_nan"),
    pytest.param([*DARTS_TINY, "--set", "momentum=5"], "'momentum': Input should be less than 1", id="o_set_momentum5"),
    pytest.param([*DARTS_TINY, "--set", "grad_clip=-1"], "'grad_clip': Input should be greater than 0",
                 id="o_set_gradclip_neg"),
    pytest.param([*DARTS_TINY, "--set", "dataset=foo"], "'dataset': Input should be 'cifar10', 'cifar100' or "
                 "'imagenet16-120'", id="o_set_dataset_bad"),
    pytest.param([*DARTS_TINY, "--set", "lr=0.01", "--set", "lr_min=0.1"], "lr_min (0.1) must be <= lr (0.01)",
                 id="lr_min_above_lr"),
    pytest.param(["search", "--no-progress", "--method", "gdas", "--data", "digits", "--epochs", "1", "--set",
                  "tau_min=0", "--set", "tau_max=0"], "'tau_max': Input should be greater than 0", id="o_set_tau0"),
    pytest.param(["search", "--no-progress", "--method", "gdas", "--data", "digits", "--epochs", "1", "--set",
                  "tau_min=5", "--set", "tau_max=1"], "tau_min (5.0) must be <= tau_max (1.0)", id="gdas_tau_order"),
    pytest.param([*TRAIN_NB201, "--set", "momentum=1"], "'momentum': Input should be less than 1", id="t_momentum1"),
    pytest.param([*TRAIN_NB201, "--set", "C=4.5"], "'C'", id="t_C_float"),
    pytest.param([*AUTOSPACE, "--out", "s.json", "--population", "1"], "population", id="u_population1"),
])
def test_impossible_option_values(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(argv, capsys), expected)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


# ----- bool options take only true/false (supernet, strategy, loop and train options alike) ------
@pytest.mark.parametrize("argv, key", [
    pytest.param(["search", "--no-progress", "--space", "nb201", "--method", "darts", "--data", "digits",
                  "--set", "fused=5"], "fused", id="o_set_fused5"),
    pytest.param([*DARTS_TINY, "--set", "bn_affine=\"yes\""], "bn_affine", id="o_set_bnaffine_yes"),
    pytest.param(["search", "--no-progress", "--space", "darts", "--method", "darts", "--data", "digits",
                  "--epochs", "1", "--set", "C=4", "--set", "layers=3", "--set", "fused=1"], "fused",
                 id="o_darts_space_fused1"),
    pytest.param([*DARTS_TINY, "--set", "second_order=1"], "second_order", id="o_set_second_order1"),
    pytest.param(["search", "--no-progress", "--method", "ddsas", "--data", "digits", "--epochs", "1",
                  "--set", "keep_none=off"], "keep_none", id="o_set_keep_none_off"),
    pytest.param(["search", "--no-progress", "--method", "dsm", "--budget", "5", "--set", "skip_seen=2"],
                 "skip_seen", id="s_set_skip_seen2"),
    pytest.param([*TRAIN_NB201, "--set", "nesterov=\"true\""], "nesterov", id="t_set_nesterov_str"),
])
def test_bool_options_take_only_true_or_false(argv, key, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(argv, capsys), f"for {key!r}: expected true or false")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_bool_option_from_a_config_file_is_one_line(capsys, tmp_path, monkeypatch):
    """The same rule for a --config file (YAML: a number is not a boolean; yes/no are YAML booleans)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("method: darts\ndata: digits\nepochs: 1\nset: {C: 4, N: 1, fused: 5}\n")
    assert_one_line(*run_main(["search", "--no-progress", "--config", "c.yaml"], capsys),
                    "for 'fused': expected true or false")


def test_bool_option_true_or_false_still_works(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = run_main([*DARTS_TINY, "--set", "fused=false", "--set", "bn_affine=true", "--json"], capsys)
    assert rc == 0, err


def test_set_value_refused_in_a_real_process(tmp_path):
    rc, err = run_cli([*DARTS_TINY, "--set", "momentum=5", "--run-dir", "rd"], tmp_path)
    assert_one_line(rc, err, "momentum")
    assert not (tmp_path / "rd").exists()


# ----- devices ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    pytest.param([*DARTS_TINY, "--device", "meta"], "device 'meta' cannot run spacenas here", id="o_device_meta"),
    pytest.param([*DARTS_TINY, "--device", "mps"], "device 'mps' cannot run spacenas here", id="o_device_mps"),
    pytest.param(["search", "--no-progress", "--space", "mobilenet", "--method", "dsm", "--epochs", "1",
                  "--device", "tpu"], "unknown device 'tpu'", id="m_device_tpu"),
    pytest.param([*TRAIN_NB201, "--device", "tpu"], "unknown device 'tpu'", id="t_device_tpu"),
    pytest.param(["search", "--no-progress", "--method", "dsm", "--budget", "3", "--set", "device=tpu"],
                 "unknown device 'tpu'", id="dsm_set_device"),
])
def test_unusable_devices(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = assert_one_line(*run_main(argv, capsys), expected)
    assert "allowed here: cpu" in line


def test_cuda_without_cuda(capsys, tmp_path, monkeypatch):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main([*TRAIN_NB201, "--device", "cuda", "--run-dir", "rd"], capsys),
                    "CUDA is not available")  # t_device_cuda
    assert not (tmp_path / "rd").exists()


# ----- flags a subcommand does not take --------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    pytest.param(["sweep", "--methods", "random", "--seeds", "1", "--out", "o", "--resume"],
                 ["unrecognized arguments: --resume", "continues when you run the same command again"],
                 id="w_resume"),
    pytest.param(["sweep", "--methods", "random", "--seeds", "1", "--out", "o", "--run-dir", "r"],
                 ["unrecognized arguments: --run-dir r", "--out names its dir"], id="w_run_dir"),
    pytest.param(["search", "-q", "--method", "random"], ["unrecognized arguments: -q",
                 "-q goes before the subcommand ('spacenas -q search ...')"], id="s_quiet_after"),
    pytest.param(["report", "o", "--verbose"], ["--verbose goes before the subcommand ('spacenas --verbose report"],
                 id="r_verbose_after"),
    pytest.param(["train", "--version"], ["--version goes before the subcommand ('spacenas --version')"],
                 id="t_version_after"),
    pytest.param(["search", "--method", "random", "--bogus"],
                 ["unrecognized arguments: --bogus (see 'spacenas search --help')"], id="s_unknown_flag"),
    pytest.param(["--bogus", "list", "spaces"], ["unrecognized arguments: --bogus (see 'spacenas --help')"],
                 id="top_unknown_flag"),
])
def test_flags_the_subcommand_does_not_take(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(argv, capsys), *expected)
    assert not list(tmp_path.iterdir())


# ----- seeds --------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    pytest.param([*DARTS_TINY, "--seed", "99999999999999999999999"], "seeds are 0..9223372036854775807", id="o_seed_huge"),
    pytest.param(["search", "--no-progress", "--method", "dsm", "--budget", "3", "--seed", "99999999999999999999999"],
                 "seeds are 0..9223372036854775807", id="o_q_seed_huge_dsm"),
    pytest.param(["sweep", "--no-progress", "--methods", "random", "--datasets", "cifar10", "--seeds",
                  "99999999999999", "--budget", "3", "--out", "o"], "at most 100000 per sweep", id="w_seeds_huge"),
    pytest.param(["sweep", "--no-progress", "--methods", "random", "--datasets", "cifar10", "--seeds",
                  "9223372036854775807:9223372036854775809", "--budget", "3", "--out", "o"],
                 "seed 9223372036854775808 is not in 0..9223372036854775807", id="w_seeds_over_max"),
    pytest.param(["sweep", "--no-progress", "--methods", "random", "--datasets", "cifar10", "--seeds", "0",
                  "--budget", "3", "--out", "o"], "bad seeds '0': a count N must be >= 1 (allowed: ",
                 id="w_seeds_zero"),
    pytest.param(["sweep", "--no-progress", "--methods", "random", "--datasets", "cifar10", "--seeds", "5:5",
                  "--budget", "3", "--out", "o"], "B must be greater than A", id="w_seeds_empty_range"),
    pytest.param([*TRAIN_NB201, "--seed", str(2**63)], "'seed'", id="t_seed_huge"),
    pytest.param([*AUTOSPACE, "--out", "s.json", "--seed", str(2**64)], "--seed", id="u_seed_huge"),
])
def test_seeds_out_of_range(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(argv, capsys), expected)


def test_largest_seed_is_usable():
    """The bound is what numpy and torch take, with room for the seed + k generators runs derive."""
    import torch

    from spacenas.config import MAX_SEED
    torch.Generator().manual_seed(MAX_SEED + 2)
    np.random.default_rng(MAX_SEED + 2)


# ----- data files -----------------------------------------------------------------------------
def _cifar(root: Path, batch: dict) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(d / name, "wb") as f:
            pickle.dump(batch if name == "data_batch_1" else good, f)
    return d / "data_batch_1"


def _fm(root: Path, **bad: bytes) -> None:
    files = {"train-images-idx3-ubyte": _idx(np.zeros((4, 28, 28))), "train-labels-idx1-ubyte": _idx(np.arange(4)),
             "t10k-images-idx3-ubyte": _idx(np.zeros((2, 28, 28))), "t10k-labels-idx1-ubyte": _idx(np.arange(2))}
    root.mkdir(parents=True)
    for name, content in files.items():
        key = name.replace("-", "_")
        if key + "_gz" in bad:
            (root / (name + ".gz")).write_bytes(bad[key + "_gz"])
        else:
            (root / name).write_bytes(bad.get(key, content))


def _idx(arr) -> bytes:
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape) + \
        arr.astype(np.uint8).tobytes()


CIFAR_CASES = {
    "o_cifar_shape": ({b"data": np.zeros(1000, np.uint8), b"labels": [0]}, "expected uint8 images of shape [N, 3072]"),
    "o_cifar_labels": ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 200]}, "label 200"),
    "o_cifar_lenmis": ({b"data": np.zeros((100, 3072), np.uint8), b"labels": [0] * 25}, "100 images but 25 labels"),
    "o_cifar_datastr": ({b"data": "not an array", b"labels": [0]}, "'data' is str"),
}
FM_CASES = {
    "o_fm_gz": ({"train_labels_idx1_ubyte_gz": b"\x89\x91 not gzip"}, "as a gzip file"),
    "o_fm_mismatch": ({"train_images_idx3_ubyte": _idx(np.zeros((40, 28, 28)))}, "40 images but"),
    "o_fm_1d": ({"train_images_idx3_ubyte": _idx(np.zeros(28 * 28 * 4))}, "expected images [N, H, W]"),
    "o_fm_labels": ({"t10k_labels_idx1_ubyte": _idx(np.array([0, 77]))}, "label 77 is out of range"),
}


@pytest.mark.parametrize("case", sorted(CIFAR_CASES))
@pytest.mark.parametrize("command", ["search", "train"])
def test_bad_cifar_files(case, command, capsys, tmp_path, monkeypatch):
    batch, expected = CIFAR_CASES[case]
    bad = _cifar(tmp_path / "data", batch)
    monkeypatch.chdir(tmp_path)
    argv = ([*DARTS_TINY[:4], "--data", "cifar10", *DARTS_TINY[6:]] if command == "search" else
            ["train", "--no-progress", "--arch", NB201_ARCH, "--space", "nb201", "--data", "cifar10", "--epochs", "1"])
    line = assert_one_line(*run_main([*argv, "--data-dir", str(tmp_path / "data"), "--run-dir", "rd"], capsys),
                           expected)
    assert str(bad) in line
    assert not (tmp_path / "rd" / "checkpoint.pt").exists()


@pytest.mark.parametrize("case", sorted(FM_CASES))
@pytest.mark.parametrize("command", ["search", "train"])
def test_bad_fashion_mnist_files(case, command, capsys, tmp_path, monkeypatch):
    bad, expected = FM_CASES[case]
    _fm(tmp_path / "data", **bad)
    monkeypatch.chdir(tmp_path)
    argv = ([*DARTS_TINY[:4], "--data", "fashion-mnist", *DARTS_TINY[6:]] if command == "search" else
            ["train", "--no-progress", "--arch", NB201_ARCH, "--space", "nb201", "--data", "fashion-mnist",
             "--epochs", "1"])
    line = assert_one_line(*run_main([*argv, "--data-dir", str(tmp_path / "data")], capsys), expected)
    assert str(tmp_path / "data") in line


def test_payload_batch_file_through_the_cli(tmp_path):
    """A crafted CIFAR batch whose unpickling would create a marker: one line, and no marker."""
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    _cifar(tmp_path / "data", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": Payload()})
    rc, err = run_cli([*DARTS_TINY[:4], "--data", "cifar10", *DARTS_TINY[6:], "--data-dir", str(tmp_path / "data")],
                      tmp_path)
    assert_one_line(rc, err, "data_batch_1", "refusing")
    assert not marker.exists()


# ----- binary files where text is expected -------------------------------------------------------
BINARY = bytes(range(128)) + b"\x80\xff" * 64


@pytest.mark.parametrize("argv, expected", [
    pytest.param(["train", "--no-progress", "--arch", "{f}", "--space", "nb201", "--data", "digits", "--epochs", "1",
                  "--set", "C=4", "--set", "N=1"], "is not UTF-8 text", id="t_arch_binary"),
    pytest.param(["show", "{f}", "--space", "nb201", "--out", "x"], "is not UTF-8 text", id="s_show_arch_binary"),
    pytest.param(["autospace-search", "--no-progress", "--space-file", "{f}", "--method", "random"], "is not JSON",
                 id="v_spacefile_binary"),
])
def test_binary_files_as_text(argv, expected, capsys, tmp_path, monkeypatch):
    f = tmp_path / "blob"
    f.write_bytes(BINARY)
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main([a.replace("{f}", str(f)) for a in argv], capsys), expected, str(f))
    assert not list(tmp_path.glob("x*"))


@pytest.mark.parametrize("doc, expected", [
    pytest.param('{"format": "%s", "layers": [["irb_k3_e3"]], "meta": {"plan": 5}}', "'meta.plan' must be an object",
                 id="v_spacefile_metaplan5"),
    pytest.param('{"format": "%s", "layers": 5}', "is corrupt", id="v_spacefile_layers_int"),
    pytest.param('{"format": "%s", "layers": [["irb_k3_e3"]], "meta": [1]}', "is corrupt",
                 id="v_spacefile_meta_list"),
])
def test_malformed_space_files(doc, expected, capsys, tmp_path, monkeypatch):
    from spacenas.spaces.open_cell import LAYERWISE_FORMAT
    f = tmp_path / "space.json"
    f.write_text(doc % LAYERWISE_FORMAT)
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(["autospace-search", "--no-progress", "--space-file", str(f), "--method", "random",
                               "--budget", "1", "--train-epochs", "1", "--set", "arch_epochs=1"], capsys), expected)


# ----- output paths: checked before the work starts ----------------------------------------------
def _paths(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "afile").write_text("x")
    return {"proc": "/proc/spacenas_probe/x", "file": str(tmp_path / "afile" / "sub"), "empty": ""}


@pytest.mark.parametrize("where", ["proc", "file", "empty"])
@pytest.mark.parametrize("argv, flag", [
    pytest.param(["show", NB201_ARCH, "--space", "nb201", "--out", "{p}.png"], "--out", id="show"),
    pytest.param([*AUTOSPACE, "--out", "{p}.json"], "--out", id="autospace"),
    pytest.param([*TRAIN_NB201, "--export", "torchscript", "--export-dir", "{p}"], "--export-dir", id="train_export"),
])
def test_unwritable_output_paths(where, argv, flag, capsys, tmp_path, monkeypatch):
    """s_show_out_proc/_empty/_under_file, u_out_proc, ro_show_*, ro_autospace_out, ro_train_export_dir:
    /proc stands in for a read-only place (root ignores permission bits)."""
    if where == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    p = _paths(tmp_path)[where]
    monkeypatch.chdir(tmp_path)
    args = [("" if where == "empty" else a.replace("{p}", p)) if "{p}" in a else a for a in argv]
    rc, err = run_main(args, capsys)
    assert_one_line(rc, err)
    assert ("empty" in err) if where == "empty" else (flag in err or "picture path" in err)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["afile"]  # nothing written, nothing trained


def test_output_path_checked_before_training(tmp_path):
    """autospace --out under a file: refused at once (the DEA never starts), in a real process."""
    (tmp_path / "afile").write_text("x")
    rc, err = run_cli([*AUTOSPACE, "--out", str(tmp_path / "afile" / "s.json")], tmp_path)
    assert_one_line(rc, err, "is a file, so no file can be created under it")
    assert "rounds" not in err


# ----- CLI parsing leftovers in this area -------------------------------------------------------
def test_train_resume_needs_run_dir(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main([*TRAIN_NB201, "--resume"], capsys), "--resume needs --run-dir")  # t_resume_norundir


# ----- run dirs, checkpoints and caches (read by spacenas.runs and the loops that resume) --------
QUERY_TINY = ["search", "--no-progress", "--method", "random", "--budget", "30", "--checkpoint-every", "10"]
FINISHED = ("result.json", "arch.txt", "weights.pt", "train_result.json")


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Finished run dirs of a tiny query, one-shot (DARTS, C=4) and train run, made once in this
    process; the cases copy one and break it."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("fixtures")
    dirs = {"query": (QUERY_TINY, root / "q"), "oneshot": (DARTS_TINY, root / "os"),
            "train": (TRAIN_NB201, root / "tr")}
    for argv, d in dirs.values():
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            assert main([*argv, "--run-dir", str(d)]) == 0, err.getvalue()
        assert (d / "checkpoint.pt").is_file() and (d / "result.json").is_file()
    return {k: d for k, (_, d) in dirs.items()}


def _half(src: Path, dst: Path) -> Path:
    """A copy of a finished run dir that looks killed after its last checkpoint (no result yet)."""
    import shutil

    shutil.copytree(src, dst)
    for name in FINISHED:
        (dst / name).unlink(missing_ok=True)
    return dst


def _envelope(run_state) -> dict:
    from spacenas import runs
    return {"format": runs.CHECKPOINT_FORMAT, "state": {"run": run_state, "log_lines": 0, "log_pending": []}}


def _break_checkpoint(ck: Path, how: str) -> None:
    import torch

    good = ck.read_bytes()
    if how == "trunc":
        ck.write_bytes(good[: len(good) // 2])
    elif how == "zero":
        ck.write_bytes(b"")
    elif how == "garbage":
        ck.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif how == "list":  # a well-formed torch file that is not a spacenas checkpoint
        torch.save([1, 2, 3], ck)
    elif how == "runlist":  # the right envelope around a run state that is a list
        torch.save(_envelope([1, 2, 3]), ck)
    elif how == "nometa":  # the right envelope, the run state lacks its keys
        torch.save(_envelope({"epoch": 1}), ck)
    else:
        raise AssertionError(how)


def _nothing_finished(d: Path) -> None:
    assert not [n for n in FINISHED if (d / n).exists()], sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("kind, how, expected", [
    pytest.param("oneshot", "trunc", "refused checkpoint", id="o_resume_trunc"),
    pytest.param("oneshot", "zero", "refused checkpoint", id="o_resume_zero"),
    pytest.param("oneshot", "garbage", "refused checkpoint", id="o_resume_garbage"),
    pytest.param("oneshot", "list", "not a spacenas checkpoint", id="o_resume_list"),
    pytest.param("oneshot", "runlist", "checkpoint", id="o_resume_runlist"),
    pytest.param("oneshot", "nometa", "checkpoint", id="o_resume_nometa"),
    pytest.param("train", "trunc", "refused checkpoint", id="t_resume_trunc"),
    pytest.param("train", "list", "not a spacenas checkpoint", id="t_resume_list"),
    pytest.param("train", "runlist", "checkpoint", id="t_resume_runlist"),
    pytest.param("train", "nometa", "checkpoint", id="t_resume_nometa"),
    pytest.param("query", "garbage", "refused checkpoint", id="q_resume_garbage"),
    pytest.param("query", "nometa", "checkpoint", id="q_resume_nometa"),
])
def test_broken_checkpoints_on_resume(kind, how, expected, run_dirs, capsys, tmp_path, monkeypatch):
    rd = _half(run_dirs[kind], tmp_path / "rd")
    _break_checkpoint(rd / "checkpoint.pt", how)
    broken = (rd / "checkpoint.pt").read_bytes()
    monkeypatch.chdir(tmp_path)
    argv = {"oneshot": DARTS_TINY, "train": TRAIN_NB201, "query": QUERY_TINY}[kind]
    line = assert_one_line(*run_main(["-q", *argv, "--run-dir", "rd", "--resume"], capsys), expected)
    assert "rd" in line and "Traceback" not in line
    _nothing_finished(rd)
    assert (rd / "checkpoint.pt").read_bytes() == broken  # left for the user to look at, not overwritten


@pytest.mark.parametrize("finished", [True, False], ids=["done", "half"])
def test_resume_with_other_settings(finished, run_dirs, capsys, tmp_path, monkeypatch):
    """o_resume_otherC: a run of C=4 resumed with C=8 names the differing settings (no size-mismatch dump)."""
    import shutil

    rd = tmp_path / "rd"
    (shutil.copytree if finished else _half)(run_dirs["oneshot"], rd)
    before = sorted(p.name for p in rd.iterdir())
    monkeypatch.chdir(tmp_path)
    argv = [a if a != "C=4" else "C=8" for a in DARTS_TINY]
    assert_one_line(*run_main(["-q", *argv, "--set", "max_steps=5", "--run-dir", "rd", "--resume"], capsys),
                    "other settings", "options.C")
    assert sorted(p.name for p in rd.iterdir()) == before


def test_run_dir_name_with_a_newline(run_dirs, capsys, tmp_path, monkeypatch):
    """r_rundir_newline_exists: the refusal stays one line when the dir name holds a newline."""
    import shutil

    shutil.copytree(run_dirs["query"], tmp_path / "rd\nX")
    monkeypatch.chdir(tmp_path)
    line = assert_one_line(*run_main([*QUERY_TINY, "--run-dir", "rd\nX"], capsys), "already holds a run")
    assert "rd\\nX" in line  # the name, escaped


def test_garbage_supernet_file_for_init(capsys, tmp_path, monkeypatch):
    """t_init_supernet_garbage: one line naming the file, not torch's multi-line advice."""
    f = tmp_path / "garbage.pt"
    f.write_bytes(BINARY)
    monkeypatch.chdir(tmp_path)
    argv = ["-q", "train", "--no-progress", "--arch", "53312860997653871517", "--space", "mobilenet", "--data",
            "digits", "--epochs", "1", "--init-from-supernet", str(f), "--run-dir", "rd"]
    # -q: the file is read when the network is built, after the (info) augmentation note
    line = assert_one_line(*run_main(argv, capsys), "cannot read supernet file")
    assert str(f) in line
    if (tmp_path / "rd").exists():
        _nothing_finished(tmp_path / "rd")


@pytest.mark.parametrize("content", [
    pytest.param(BINARY, id="x_mobilenet_cache_corrupt"),
    pytest.param("list", id="x_mobilenet_cache_list"),
    pytest.param("keylist", id="x_mobilenet_cache_keylist"),
])
def test_corrupt_supernet_cache(content, capsys, tmp_path, monkeypatch):
    """A run dir whose supernet.pt is not a supernet cache: one line saying to delete it; afterwards
    the dir is not stranded (a re-run is not refused as 'already holds a run')."""
    import torch

    rd = tmp_path / "rd"
    rd.mkdir()
    if content == "list":
        torch.save([1, 2], rd / "supernet.pt")
    elif content == "keylist":
        torch.save({"key": [1], "state_dict": {}, "losses": []}, rd / "supernet.pt")
    else:
        (rd / "supernet.pt").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    argv = ["search", "--no-progress", "--space", "mobilenet", "--method", "random", "--budget", "3", "--epochs", "1",
            "--supernet", "train_limit=64", "--run-dir", "rd"]
    assert_one_line(*run_main(argv, capsys), "supernet cache", "delete it")
    _nothing_finished(rd)
    assert_one_line(*run_main(argv, capsys), "supernet cache", "delete it")  # same cause again, not a stranded dir


@pytest.mark.parametrize("doc", [
    pytest.param("[1]", id="w_sweepjson_list"),
    pytest.param('{"methods": 5, "datasets": ["cifar10"], "seeds": [0]}', id="w_sweepjson_methods_int"),
    pytest.param("{not json", id="w_sweepjson_garbage"),
])
def test_malformed_sweep_file(doc, capsys, tmp_path, monkeypatch):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "sweep.json").write_text(doc)
    monkeypatch.chdir(tmp_path)
    assert_one_line(*run_main(["sweep", "--no-progress", "--methods", "random", "--datasets", "cifar10", "--seeds",
                               "1", "--budget", "3", "--out", "o"], capsys), "sweep.json")
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.name != ".lock") == ["sweep.json"]


# ----- numerical faults: lr=1e6 on every method family -------------------------------------------
SEARCH = ["search", "--no-progress", "--data", "digits", "--epochs", "2", "--set", "C=4", "--set", "N=1",
          "--set", "max_steps=10", "--run-dir", "rd"]


# n_darts/gdas/drnas_archlr1e6, n_adarts_actlr1e6, n_autospace_archlr1e6 (1e30), n_reinforce_lr1e6 (1e30) stay exit 0
# on purpose: re-run on this branch, every loss, weight and score in their log.jsonl/result.json stays finite.
@pytest.mark.parametrize("argv, quantity", [
    pytest.param([*SEARCH, "--method", "darts", "--set", "lr=1e6"], "non-finite", id="n_darts_lr1e6"),
    pytest.param([*SEARCH, "--method", "darts", "--set", "second_order=true", "--set", "lr=1e6"], "non-finite",
                 id="n_darts2nd_lr1e6"),
    pytest.param([*SEARCH, "--method", "gdas", "--set", "lr=1e6"], "non-finite", id="n_gdas_lr1e6"),
    pytest.param([*SEARCH, "--method", "drnas", "--set", "lr=1e6"], "non-finite", id="n_drnas_lr1e6"),
    pytest.param([*SEARCH, "--method", "drnas", "--progressive", "--set", "lr=1e6"], "non-finite",
                 id="n_drnasprog_lr1e6"),
    pytest.param([*SEARCH, "--method", "ddsas", "--set", "lr=1e6"], "non-finite", id="n_ddsas_lr1e6"),
    pytest.param([*SEARCH, "--method", "adarts", "--set", "lr=1e6"], "non-finite", id="n_adarts_lr1e6"),
    pytest.param(["search", "--no-progress", "--space", "darts", "--data", "digits", "--epochs", "2", "--set", "C=4",
                  "--set", "layers=3", "--set", "max_steps=5", "--run-dir", "rd", "--method", "darts", "--set",
                  "lr=1e6"], "non-finite", id="n_dartsspace_lr1e6"),
    pytest.param(["train", "--no-progress", "--arch", NB201_ARCH, "--space", "nb201", "--data", "digits", "--epochs",
                  "2", "--set", "C=4", "--set", "N=1", "--set", "lr=1e6", "--run-dir", "rd", "--json"],
                 "non-finite training loss", id="n_train_lr1e6"),
    pytest.param(["train", "--no-progress", "--arch", DARTS_ARCH, "--space", "darts", "--data", "digits", "--epochs",
                  "2", "--set", "C=4", "--set", "layers=3", "--set", "lr=1e6", "--run-dir", "rd"],
                 "non-finite", id="n_train_darts_lr1e6"),
    pytest.param(["autospace", "--no-progress", "--rounds", "2", "--population", "3", "--k", "2", "--set",
                  "steps_per_round=4", "--set", "tournament=2", "--layers", "1", "--set", "lr=1e6", "--out", "s.json",
                  "--run-dir", "rd"], "non-finite", id="n_autospace_lr1e6"),
    pytest.param(["autospace-search", "--no-progress", "--manual-irb", "--layers", "1", "--method", "proxyless",
                  "--budget", "3", "--set", "warmup_epochs=1", "--train-epochs", "1", "--set", "lr=1e6"],
                 "non-finite", id="n_proxyless_lr1e6"),
    pytest.param(["search", "--no-progress", "--space", "mobilenet", "--method", "random", "--budget", "2",  # lr=1e30
                  "--epochs", "2", "--supernet", "train_limit=128", "--supernet", "lr=1e30", "--run-dir", "rd"],
                 "non-finite supernet", id="n_supernet_lr1e6"),
])
def test_diverging_runs_stop_with_one_line(argv, quantity, capsys, tmp_path, monkeypatch):
    """In this process (a subprocess per case cost 75-90 s under load); -q: the info notes (arch_lr
    scaling, augmentation) legitimately precede a fault found during the work."""
    monkeypatch.chdir(tmp_path)
    line = assert_one_line(*run_main(["-q", *argv], capsys), quantity, "learning rate may be too high")
    assert " at " in line  # names the step / epoch / round
    assert "masked out" not in line and "probability tensor" not in line
    finished = [p.name for p in tmp_path.rglob("*") if p.name in
                ("result.json", "train_result.json", "weights.pt", "s.json", "arch.txt")]
    assert finished == [], finished


def test_diverging_run_in_a_real_process(tmp_path):
    """n_darts_lr1e6 as a user runs it: one line after the -q-silenced notes, exit 2, nothing finished."""
    rc, err = run_cli(["-q", *SEARCH, "--method", "darts", "--set", "lr=1e6"], tmp_path)
    assert_one_line(rc, err, "non-finite", "learning rate may be too high")
    assert not (tmp_path / "rd" / "result.json").exists() and not (tmp_path / "rd" / "arch.txt").exists()
