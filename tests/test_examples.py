"""The examples run end to end (what `make demo` shows)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(name):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_walkthrough():
    out = _run("walkthrough.py")
    assert "K.eval(K.shape(variable(ones(8))))             [8]" in out
    assert "dot((2, 3), (4, 3, 5)) shape                   (2, 4, 5)" in out
    assert "dot((3, 4), (2, 4, 5)) shape                   (3, 2, 5)" in out
    assert "walkthrough done" in out


@pytest.mark.slow
def test_train_logreg_loss_falls():
    out = _run("train_logreg.py")
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    accs = [float(v) for v in re.findall(r"accuracy (\d+\.\d+)", out)]
    assert len(losses) >= 5 and losses[-1] < losses[0] * 0.5
    assert accs[-1] > 0.9
    assert "compiled 1 time(s)" in out


@pytest.mark.slow
def test_data_parallel_example_trains_on_8_devices():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "data_parallel.py")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "mesh: {'batch': 8} over 8 cpu devices" in out.stdout
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out.stdout)]
    assert len(losses) == 5 and losses[-1] < 0.6 * losses[0], out.stdout
    assert "predict on 1003 rows -> (1003, 1)" in out.stdout
