"""nervo.explain: attributions against autograd and closed forms, completeness of integrated
gradients, memory bounds, model state left alone, plot, CLI, bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("nervo.nn", reason="nervo.nn (autograd and layers) not built yet")

import nervo  # noqa: E402
from nervo import explain, nn  # noqa: E402


def _mlp(seed=0, act=nn.Tanh):
    nervo.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), act(), nn.Linear(16, 16), act(), nn.Linear(16, 4))


def _cnn(seed=0):
    nervo.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))


def _x(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _autograd_input_grad(model, x, t):
    xt = nervo.tensor(x, requires_grad=True)
    out = model(xt)
    onehot = np.zeros(out.shape, np.float32)
    onehot[np.arange(len(t)), t] = 1
    (g,) = nervo.grad((out * nervo.tensor(onehot)).sum(), [xt])
    return g.numpy()


@pytest.mark.parametrize("build,shape", [(_mlp, (5, 6)), (_cnn, (3, 1, 8, 8))])
def test_saliency_equals_the_autograd_input_gradient(build, shape):
    model = build()
    model.eval()
    x = _x(shape)
    t = np.arange(shape[0]) % 4
    want = _autograd_input_grad(model, x, t)
    np.testing.assert_allclose(explain.saliency(model, x, t, abs=False), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explain.saliency(model, x, t), np.abs(want), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explain.gradient_x_input(model, x, t), x * want, rtol=1e-5, atol=1e-7)
    # internal batching does not change the result
    np.testing.assert_allclose(explain.saliency(model, x, t, internal_batch_size=1), np.abs(want),
                               rtol=1e-5, atol=1e-7)


def test_default_target_is_the_predicted_class():
    model = _mlp()
    x = _x((6, 6))
    with nervo.no_grad():
        pred = model(nervo.tensor(x)).numpy().argmax(1)
    np.testing.assert_allclose(explain.saliency(model, x), explain.saliency(model, x, pred))


def test_integrated_gradients_of_a_linear_model_is_exact():
    nervo.manual_seed(0)
    lin = nn.Linear(5, 3)
    x = _x((4, 5))
    b = _x((1, 5), seed=9)
    attr, delta = explain.integrated_gradients(lin, x, target=2, baseline=b, steps=3)
    np.testing.assert_allclose(attr, (x - b) * lin.weight.numpy()[2], rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(delta) < 1e-5)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_integrated_gradients_completeness_and_shrinking_delta(method):
    model = _mlp()
    x = _x((4, 6)) * 2
    t = np.array([0, 1, 2, 3])
    with nervo.no_grad():
        fx = model(nervo.tensor(x)).numpy()[np.arange(4), t]
        fb = model(nervo.tensor(np.zeros_like(x))).numpy()[np.arange(4), t]
    deltas = []
    for steps in (2, 6, 64):
        attr, delta = explain.integrated_gradients(model, x, t, steps=steps, method=method)
        # delta is exactly the completeness gap...
        np.testing.assert_allclose(attr.sum(axis=1) - (fx - fb), delta, rtol=1e-4, atol=1e-5)
        deltas.append(np.abs(delta).max())
    # ...and it shrinks as the quadrature gets finer (down to float32 rounding).
    assert deltas[1] < deltas[0]
    assert deltas[2] <= max(deltas[1], 5e-6)
    assert deltas[2] < 1e-2 * max(1e-3, np.abs(fx - fb).max())


def test_integrated_gradients_internal_batch_size_does_not_change_the_result():
    model = _cnn()
    x = _x((3, 1, 8, 8))
    a1, d1 = explain.integrated_gradients(model, x, 1, steps=10, internal_batch_size=7)
    a2, d2 = explain.integrated_gradients(model, x, 1, steps=10, internal_batch_size=1000)
    np.testing.assert_allclose(a1, a2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d1, d2, rtol=1e-4, atol=1e-6)
    a3 = explain.integrated_gradients(model, x, 1, steps=10, return_convergence_delta=False)
    np.testing.assert_allclose(a3, a1, rtol=1e-4, atol=1e-6)


def test_occlusion_matches_closed_form():
    nervo.manual_seed(0)
    lin = nn.Linear(6, 3)
    x = _x((2, 6))
    # window 1: removing feature j drops the score by w_tj * x_j
    occ = explain.occlusion(lin, x, target=1, window=1)
    np.testing.assert_allclose(occ, x * lin.weight.numpy()[1], rtol=1e-5, atol=1e-6)
    # window 2, stride 2 over 6 features: each pair gets the pair's drop
    occ2 = explain.occlusion(lin, x, target=1, window=2, stride=2)
    contrib = x * lin.weight.numpy()[1]
    pairs = contrib.reshape(2, 3, 2).sum(-1)
    np.testing.assert_allclose(occ2, np.repeat(pairs, 2, axis=1), rtol=1e-5, atol=1e-6)
    # images: an int window spans all channels
    model = _cnn()
    img = _x((2, 1, 8, 8))
    a = explain.occlusion(model, img, target=0, window=3, stride=2)
    assert a.shape == img.shape and np.all(np.isfinite(a))


def test_smoothgrad():
    model = _mlp()
    x = _x((3, 6))
    np.testing.assert_allclose(explain.smoothgrad(model, x, 1, noise_level=0.0, n_samples=3),
                               explain.saliency(model, x, 1), rtol=1e-5, atol=1e-7)
    a = explain.smoothgrad(model, x, 1, noise_level=0.2, n_samples=10, seed=3, internal_batch_size=4)
    b = explain.smoothgrad(model, x, 1, noise_level=0.2, n_samples=10, seed=3)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(a, explain.saliency(model, x, 1))


@pytest.mark.parametrize("method", ["saliency", "gradient_x_input", "smoothgrad",
                                    "integrated_gradients", "occlusion"])
def test_model_left_in_eval_mode_and_grads_untouched(method):
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 4))
    model.train()
    frozen = model[0].bias
    frozen.requires_grad_(False)
    for p in model.parameters():
        p.grad = nervo.tensor(np.full(p.shape, 7.0, np.float32))
    out = explain.METHODS[method](model, _x((3, 6)), 2)
    assert not model.training and not model[2].training
    for p in model.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), 7.0)
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True]
    # dropout is off: the same call gives the same answer
    again = explain.METHODS[method](model, _x((3, 6)), 2)
    np.testing.assert_array_equal(out[0] if isinstance(out, tuple) else out,
                                  again[0] if isinstance(again, tuple) else again)


def test_scalar_output_model():
    nervo.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0))
    x = _x((3, 4))
    np.testing.assert_allclose(explain.saliency(model, x, abs=False),
                               np.broadcast_to(model[0].weight.numpy(), (3, 4)), rtol=1e-6)
    with pytest.raises(ValueError, match="target must be None"):
        explain.saliency(model, x, 0)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(target=4), IndexError, "target class 4 is out of range for a model with 4 outputs"),
    (dict(target=-1), IndexError, "out of range"),
    (dict(target=[0, 1]), ValueError, r"target has shape \(2,\), expected \(3,\)"),
    (dict(target="cat"), TypeError, "target must be an int"),
    (dict(x=np.ones((3, 6), np.int64)), TypeError, "floating point"),
    (dict(x=[[1.0] * 6] * 3), TypeError, "numpy.ndarray"),
    (dict(x=np.full((3, 6), np.nan, np.float32)), ValueError, "NaN"),
    (dict(internal_batch_size=0), ValueError, "internal_batch_size must be a positive int"),
])
def test_bad_input(kwargs, exc, match):
    model = _mlp()
    args = dict(x=_x((3, 6)), target=0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        explain.saliency(model, args.pop("x"), **args)


def test_bad_method_arguments():
    model = _mlp()
    x = _x((3, 6))
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        explain.integrated_gradients(model, x, 0, steps=0)
    with pytest.raises(ValueError, match="does not broadcast"):
        explain.integrated_gradients(model, x, 0, baseline=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="method must be"):
        explain.integrated_gradients(model, x, 0, method="simpson")
    with pytest.raises(ValueError, match="larger than the input"):
        explain.occlusion(model, x, 0, window=7)
    with pytest.raises(ValueError, match="n_samples"):
        explain.smoothgrad(model, x, 0, n_samples=0)
    with pytest.raises(ValueError, match="noise_level"):
        explain.smoothgrad(model, x, 0, noise_level=-1)


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    model = _cnn()
    x = _x((1, 1, 8, 8))
    attr, _ = explain.integrated_gradients(model, x, 0, steps=8)
    path = explain.plot(x[0], attr[0], tmp_path / "ig.png", title="ig")
    assert (tmp_path / "ig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path == tmp_path / "ig.png"
    explain.plot(np.random.rand(8, 8, 3), np.random.rand(3, 8, 8), tmp_path / "rgb.png", signed=True)
    with pytest.raises(ValueError, match="attribution is"):
        explain.plot(x[0], np.zeros((4, 4)), tmp_path / "bad.png")


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"nervo\[plot\]"):
        explain.plot(np.zeros((4, 4)), np.zeros((4, 4)), tmp_path / "x.png")


_MEMORY_SCRIPT = r"""
import resource, numpy as np, nervo
from nervo import nn, explain
nervo.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
x = np.random.default_rng(0).random((32, 1, 28, 28)).astype(np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
attr, delta = explain.integrated_gradients(model, x, target=3, steps=50)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, peak, float(np.abs(delta).max()))
"""


def test_integrated_gradients_batch_of_32_images_50_steps_fits_in_2_gib():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(os.path.dirname(__file__), "..", "..", "python")]
                                        + sys.path)
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    before_kib, peak_kib, delta = out.stdout.split()
    assert int(peak_kib) * 1024 < 2 * 1024 ** 3, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"
    print(f"integrated_gradients 32x1x28x28, 50 steps: peak RSS {int(peak_kib) / 1024:.0f} MiB "
          f"(before: {int(before_kib) / 1024:.0f} MiB), max |delta| {float(delta):.2e}")


def test_docstring_examples():
    import doctest
    from nervo.explain import attribution
    assert doctest.testmod(attribution).failed == 0


def test_cli_explain(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    models = pytest.importorskip("nervo.train.models")
    io = pytest.importorskip("nervo.io")
    from nervo.cli import main
    model = models.build_model("cnn", (1, 8, 8), num_classes=10)
    io.save(model, tmp_path / "cnn.safetensors")
    x = _x((1, 8, 8))
    np.save(tmp_path / "img.npy", x)
    rc = main(["explain", "--model", str(tmp_path / "cnn.safetensors"), "--input",
               str(tmp_path / "img.npy"), "--method", "saliency", "--target", "3",
               "--out", str(tmp_path / "h.png"), "--save", str(tmp_path / "a.npy")])
    assert rc == 0
    assert "explained class 3" in capsys.readouterr().out
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    model.eval()
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), explain.saliency(model, x[None], 3),
                               rtol=1e-5, atol=1e-7)
    rc = main(["explain", "--model", str(tmp_path / "cnn.safetensors"), "--input",
               str(tmp_path / "img.npy"), "--target", "12"])
    assert rc == 1
    assert "--target 12 is not a class" in capsys.readouterr().err
    rc = main(["explain", "--model", str(tmp_path / "cnn.safetensors"), "--input",
               str(tmp_path / "missing.npy")])
    assert rc == 1 and "no such input file" in capsys.readouterr().err
