"""The fit loop: learning, History, callbacks, NaN guard, checkpoints and exact resume."""
import json
import math

import numpy as np
import pytest

import nervo
from nervo import nn, optim
from nervo import train as T
from nervo.data import DataLoader


def _blobs(n=240, k=3, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return x, y.astype(np.int64)


def _mlp(d=6, k=3, dropout=0.1):
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, k))


def _params(model):
    return {k: np.array(v.numpy(), copy=True) for k, v in model.state_dict().items()}


def test_fit_learns_and_records_history(tmp_path):
    nervo.manual_seed(0)
    x, y = _blobs()
    model = _mlp()
    h = T.fit(model, (x[:200], y[:200]), val_data=(x[200:], y[200:]), epochs=6, batch_size=16,
              optimizer=optim.Adam(model.parameters(), lr=1e-2), verbose=0,
              metrics=["accuracy", "f1_macro"])
    assert len(h) == 6 and h["epoch"] == [1, 2, 3, 4, 5, 6]
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] >= 0.9
    for key in ("val_loss", "f1_macro", "val_f1_macro", "lr", "time", "train_time", "samples_per_s"):
        assert key in h.keys()
    ev = T.evaluate(model, (x[200:], y[200:]), metrics=["accuracy"], loss="cross_entropy")
    assert ev["accuracy"] == pytest.approx(h["val_accuracy"][-1])
    assert ev["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-5)
    out = T.predict(model, x[200:])
    assert out.shape == (40, 3)
    png = h.plot(tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(h.to_json())["epochs"][0]["epoch"] == 1
    assert h.to_csv().splitlines()[0].startswith("epoch,loss")
    assert h.best("val_loss")["val_loss"] == min(h["val_loss"])


def test_progress_quiet_when_not_a_tty(capsys):
    x, y = _blobs(64)
    T.fit(_mlp(), (x, y), epochs=2, batch_size=16, verbose=1)
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "\r" not in err


def test_early_stopping_restores_best_weights():
    nervo.manual_seed(1)
    x, y = _blobs()
    model = _mlp()

    class Script(T.Callback):  # a made-up val_loss that is best at epoch index 1
        values = [1.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1]

        def on_epoch_end(self, trainer, epoch, logs):
            logs["val_loss"] = self.values[epoch]
            if epoch == 1:
                self.snapshot = _params(trainer.model)

    script = Script()
    es = T.EarlyStopping(patience=2, restore_best_weights=True)
    h = T.fit(model, (x, y), epochs=7, batch_size=32, callbacks=[script, es], verbose=0,
              optimizer=optim.Adam(model.parameters(), lr=1e-2))
    assert len(h) == 4 and es.best_epoch == 1 and "EarlyStopping" in h.stopped_reason
    for k, v in _params(model).items():
        np.testing.assert_array_equal(v, script.snapshot[k])


def test_reduce_lr_on_plateau_is_stepped_with_val_loss():
    x, y = _blobs(64)
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)

    class Flat(T.Callback):
        pass

    trainer = T.Trainer(model, optimizer=opt, scheduler=sched, verbose=0)
    # Validation on constant data with a frozen model would plateau; simpler: feed a worse metric.
    seen = []
    real_step = sched.step
    sched.step = lambda metric: (seen.append(metric), real_step(1.0))
    trainer.fit((x, y), val_data=(x, y), epochs=3, batch_size=16)
    assert len(seen) == 3 and seen == trainer.history["val_loss"]
    assert trainer.history["lr"][0] == 0.1 and opt.param_groups[0]["lr"] < 0.1


def test_loggers_and_model_checkpoint(tmp_path):
    x, y = _blobs(64)
    model = _mlp()
    cbs = [T.CSVLogger(tmp_path / "log.csv"), T.JSONLogger(tmp_path / "log.jsonl"),
           T.ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True),
           T.ModelCheckpoint(tmp_path / "w-{epoch}.safetensors", full=False, monitor="loss")]
    h = T.fit(model, (x, y), val_data=(x, y), epochs=3, batch_size=16, callbacks=cbs, verbose=0)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("epoch,loss")
    recs = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2, 3]
    ck = nervo.load(tmp_path / "best.safetensors")
    assert ck["epoch"] == 1 + int(np.argmin(h["val_loss"]))
    w = nervo.load(tmp_path / "w-2.safetensors")
    assert set(w) == set(model.state_dict())


@pytest.mark.parametrize("policy", ["raise", "stop", "skip"])
def test_nan_guard_names_the_step_and_leaves_parameters(policy):
    x, y = _blobs(64)
    x[40] = np.nan  # in the 3rd batch of 16 (no shuffle)
    model = _mlp(dropout=0.0)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    snapshots = []

    class Snap(T.Callback):
        def on_batch_end(self, trainer, step, loss):
            snapshots.append((step, _params(trainer.model)))

    trainer = T.Trainer(model, optimizer=opt, nan_policy=policy, callbacks=[Snap()], verbose=0)
    if policy == "raise":
        with pytest.raises(T.NonFiniteError, match=r"epoch 1, step 3/4 \(global step 3\)"):
            trainer.fit((x, y), epochs=2, batch_size=16, shuffle=False)
        assert trainer.global_step == 2
        for k, v in _params(model).items():
            np.testing.assert_array_equal(v, snapshots[-1][1][k])
    elif policy == "stop":
        with pytest.warns(RuntimeWarning, match="step 3/4"):
            h = trainer.fit((x, y), epochs=2, batch_size=16, shuffle=False)
        assert len(h) == 0 and "step 3/4" in h.stopped_reason
    else:
        h = trainer.fit((x, y), epochs=2, batch_size=16, shuffle=False)
        assert trainer.skipped_steps == 2 and len(h) == 2 and trainer.global_step == 6
        assert all(np.all(np.isfinite(v)) for v in _params(model).values())


def test_bad_arguments():
    x, y = _blobs(32)
    with pytest.raises(ValueError, match="nan_policy"):
        T.Trainer(_mlp(), nan_policy="ignore")
    with pytest.raises(ValueError, match="unknown metric"):
        T.fit(_mlp(), (x, y), metrics=["accuracyy"], verbose=0)
    with pytest.raises(ValueError, match="unknown loss"):
        T.fit(_mlp(), (x, y), loss="hinge", verbose=0)
    with pytest.raises(TypeError, match="DataLoader"):
        T.fit(_mlp(), x, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        T.fit(_mlp(), (x, y), epochs=-1, verbose=0)
    with pytest.raises(TypeError, match="Callback"):
        T.fit(_mlp(), (x, y), callbacks=[print], verbose=0)
    with pytest.raises(KeyError, match="val_loss"):
        T.fit(_mlp(), (x, y), epochs=1, callbacks=[T.EarlyStopping()], verbose=0)
    with pytest.raises(ValueError, match="no batches"):
        T.fit(_mlp(), (x[:0], y[:0]), verbose=0)


def _run(epochs, *, resume=None, ckpt=None, stop_after=None):
    nervo.manual_seed(123)
    x, y = _blobs(96)
    model = _mlp(dropout=0.3)
    opt = optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    loader = DataLoader((x, y), batch_size=16, shuffle=True, seed=7)
    cbs = [T.ModelCheckpoint(ckpt)] if ckpt else []
    trainer = T.Trainer(model, optimizer=opt, scheduler=sched, callbacks=cbs, verbose=0)
    if stop_after is not None:
        class Kill(T.Callback):
            def on_epoch_end(self, trainer, epoch, logs):
                if epoch + 1 == stop_after:
                    trainer.stop_training = True
        trainer.callbacks.insert(0, Kill())
    trainer.fit(loader, val_data=(x[:32], y[:32]), epochs=epochs, resume=resume)
    return trainer


def test_resume_equals_uninterrupted(tmp_path):
    full = _run(4)
    ck = tmp_path / "ck.safetensors"
    _run(4, ckpt=ck, stop_after=2)  # "killed" after epoch 2; its last checkpoint is epoch 2's
    assert nervo.load(ck)["epoch"] == 2
    resumed = _run(4, resume=ck)
    assert resumed.epoch == 4 and resumed.global_step == full.global_step
    for k, v in _params(full.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[k], v, err_msg=k)
    assert resumed.history["loss"] == full.history["loss"]
    assert resumed.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"]


def test_checkpoint_of_wrong_model_is_rejected(tmp_path):
    t = _run(1)
    t.save_checkpoint(tmp_path / "c.safetensors")
    other = T.Trainer(nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3)), verbose=0)
    with pytest.raises(Exception, match="0.weight|shape|size"):
        other.load_checkpoint(tmp_path / "c.safetensors")
