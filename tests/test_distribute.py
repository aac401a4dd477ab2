"""jkb.distribute on 8 simulated CPU devices, each case against the 1-device result.

Every scenario runs in a fresh process (tests/distributed/worker.py), since the device count
is fixed when JAX's CPU backend starts; the single-device reference is computed in the same
process with no distribution (device 0 alone). Keras 2.3.1 drives the models.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from distributed.runner import run

# The workers import Keras (with KERAS_BACKEND=jkb); this process only needs to find it.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("keras") is None,
    reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")]

RTOL, ATOL = 1e-5, 1e-6


def assert_same_run(res, ref, got):
    keys = sorted(k[len(ref) + 1:] for k in res if k.startswith(ref + "."))
    assert {"loss", "acc", "eval", "pred", "w0"} <= set(keys)
    for k in keys:
        np.testing.assert_allclose(res[f"{got}.{k}"], res[f"{ref}.{k}"], rtol=RTOL,
                                   atol=ATOL, err_msg=k)


def test_importing_jkb_starts_no_backend():
    code = ("import jkb, jkb.distribute, jkb.checkpoint\n"
            "from jax._src import xla_bridge as xb\n"
            "assert not xb.backends_are_initialized()\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_data_parallel_keras_mlp_bn_dropout_and_cnn(tmp_path):
    res = run("data_parallel", 8, tmp_path)
    for model in ("mlp", "cnn"):
        assert_same_run(res, f"{model}.ref", f"{model}.dp")
        assert res[f"{model}.replicated"].all()  # every weight on all 8 devices
    assert_same_run(res, "mlp.ref", "mlp.compile_kw")  # model.compile(distribution=...)
    split = res["feeds.split"]
    assert len(split) > 0 and split.all()  # every fed batch of 32 split over 8 devices


def test_model_parallel_2x4_mesh(tmp_path):
    res = run("model_parallel", 8, tmp_path)
    assert_same_run(res, "ref", "mp")
    # (12, 16) kernel split by columns over "model" (4): each shard holds a quarter.
    assert tuple(res["kernel.shape"]) == (12, 16)
    assert res["kernel.shard_shapes"].tolist() == [[12, 4]] * 8


def test_uneven_batches_are_exact(tmp_path):
    res = run("uneven", 8, tmp_path)  # 1003 samples, batch 64: a last batch of 43
    assert_same_run(res, "ref", "dp")
    assert res["dp.pred"].shape == (1003, 3)


def test_sharding_survives_set_value_load_weights_steps_and_rebuild(tmp_path):
    res = run("survives", 8, tmp_path)
    assert len(res) == 12
    for k, same in res.items():
        assert bool(same), k


def test_pure_under_user_jit_with_shardings(tmp_path):
    res = run("pure", 8, tmp_path)
    np.testing.assert_allclose(res["got"], res["ref"], rtol=RTOL)
    np.testing.assert_allclose(res["got_w"], res["ref_w"], rtol=RTOL, atol=ATOL)
    assert int(res["got_devices"]) == 8


def test_layout_errors_and_scopes(tmp_path):
    res = run("api", 8, tmp_path)
    errors = json.loads(str(res["errors"]))
    assert "two layout rules" in errors["two_rules"] and "'dense.*'" in errors["two_rules"]
    assert ".*kernel:0" in errors["two_rules"]
    assert "rank 3" in errors["rank"] and "conv/kernel:0" in errors["rank"]
    assert "does not divide" in errors["divide"] and "(4, 6)" in errors["divide"]
    assert "'nope'" in errors["axis"]
    assert "'data'" in errors["batch_axis"]
    assert errors["set_bad"].startswith("TypeError")
    assert "does not divide" in errors["set_layout"]
    for k in ("unmatched_replicated", "unchanged_after_error", "moved", "scoped", "restored"):
        assert bool(res[k]), k
    assert res["sparse_ref"].shape == (16, 2) and np.abs(res["sparse_ref"]).sum() > 0
    np.testing.assert_allclose(res["sparse_dp"], res["sparse_ref"], rtol=RTOL)
