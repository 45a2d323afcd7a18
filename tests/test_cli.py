"""The nervo command line: demo/train/evaluate outputs, files, and one-line errors."""
import subprocess
import sys

import pytest

from nervo import cli

pytest.importorskip("sklearn")


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("info", "demo", "train", "evaluate"):
        assert cmd in out


@pytest.mark.parametrize("cmd", ["demo", "train", "evaluate"])
def test_subcommand_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([cmd, "--help"])
    assert e.value.code == 0 and "usage: nervo " + cmd in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["train", "--model", "vgg"], "invalid choice: 'vgg'"),
    (["train", "--epochs", "0"], "must be a positive integer"),
    (["train", "--lr", "-1"], "must be a positive number"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["demo", "--epochs", "x"], "invalid _positive_int value"),
])
def test_bad_flags_give_one_line(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err and "--help" in err


def test_missing_data_is_one_clear_line(tmp_path, capsys):
    rc = cli.main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "none"),
                   "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("nervo train: error:") and "none" in err and "Traceback" not in err


def test_evaluate_bad_file(tmp_path, capsys):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"garbage!")
    assert cli.main(["evaluate", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nervo evaluate: error:") and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_demo_then_evaluate(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--epochs", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for needle in ("test accuracy", "precision", "recall", "F1", "samples/s", "model saved",
                   "curves (PNG)", "epoch 1/1"):
        assert needle in text, needle
    assert (out / "model.safetensors").is_file()
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["evaluate", str(out / "model.safetensors")]) == 0
    ev = capsys.readouterr().out
    acc_demo = [l for l in text.splitlines() if l.startswith("test accuracy")][0].split()[2]
    acc_eval = [l for l in ev.splitlines() if l.startswith("test accuracy")][0].split()[2]
    assert acc_demo == acc_eval


@pytest.mark.slow
def test_console_entry_runs_as_a_module():
    r = subprocess.run([sys.executable, "-m", "nervo.cli", "train", "--optimizer", "rmsprop"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("model", ["lstm", "gru", "transformer"])
def test_train_sequence_model_then_evaluate(model, tmp_path, capsys):
    # digits (1, 8, 8) read as 8 steps of 8 pixels; a short run must learn and reload exactly
    out = tmp_path / model
    rc = cli.main(["train", "--model", model, "--epochs", "3", "--batch-size", "32", "--lr", "3e-3",
                   "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    acc_train = float([l for l in text.splitlines() if l.startswith("test accuracy")][0].split()[2])
    assert acc_train > 0.5, text
    assert cli.main(["evaluate", str(out / "model.safetensors")]) == 0
    ev = capsys.readouterr().out
    assert ev.startswith(f"{model} from ")
    acc_eval = float([l for l in ev.splitlines() if l.startswith("test accuracy")][0].split()[2])
    assert acc_eval == acc_train


def test_build_sequence_models_read_rows():
    from nervo.train.models import build_model
    import nervo
    for name in ("lstm", "gru", "transformer"):
        m = build_model(name, (2, 5, 3), num_classes=4)  # 5 steps of 2*3 features
        assert tuple(m(nervo.zeros(7, 2, 5, 3)).shape) == (7, 4)
    assert build_model("lstm", (1, 28, 28)).rnn.input_size == 28
    assert build_model("transformer", (3, 8, 8)).embed.in_features == 24
