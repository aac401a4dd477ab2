"""First call of a training function with and without the persistent compilation cache.

Each measurement is a fresh process that builds the Keras-2-style training function of
train_step (graph + ``K.function``) and calls it once:

* ``nocache``: no cache;
* ``cold``: ``JKB_COMPILATION_CACHE`` pointing at an empty directory (compiles and writes);
* ``warm``: the same directory again (loads the executables; tracing still runs).

Figures: warm / nocache and cold / nocache of the first-call time (lower is better).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import Result, main_of, pick


def probe(model):
    import jkb.cache

    jkb.cache.enable_from_env()  # a no-op without JKB_COMPILATION_CACHE
    from _models import init_params, jkb_train_function, make_data

    x, y = make_data(model, 128)
    init = init_params(model)
    t0 = time.perf_counter()
    f, _, _ = jkb_train_function(model, init)
    t1 = time.perf_counter()
    f([x, y, 1])
    t2 = time.perf_counter()
    print("PROBE " + json.dumps({"build": t1 - t0, "first": t2 - t1}), flush=True)


def _run(model, cache_dir):
    env = dict(os.environ)
    env.pop("JKB_COMPILATION_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache_dir is not None:
        env["JKB_COMPILATION_CACHE"] = cache_dir
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--probe", model],
                       capture_output=True, text=True, env=env, timeout=600)
    for line in p.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[6:])["first"]
    raise RuntimeError(f"probe failed:\n{p.stdout}\n{p.stderr[-3000:]}")


def run(mode):
    res = []
    models = pick(mode, ("mlp",), ("mlp", "cnn"))
    reps = pick(mode, 1, 1, 3)
    for model in models:
        none, cold, warm = [], [], []
        for _ in range(reps):
            d = tempfile.mkdtemp(prefix="jkb-cc-")
            try:
                none.append(_run(model, None))
                cold.append(_run(model, d))
                warm.append(_run(model, d))
            finally:
                shutil.rmtree(d, ignore_errors=True)
        n, c, w = (statistics.median(v) * 1e3 for v in (none, cold, warm))
        note = f"fresh process each, median of {reps}"
        res.append(Result(f"compile_cache.{model}.warm_first_call", kind="info", ratio=w / n,
                          jkb=w, ref=n, note=note + "; jkb=with warm cache, ref=no cache"))
        res.append(Result(f"compile_cache.{model}.cold_first_call", kind="info", ratio=c / n,
                          jkb=c, ref=n, note="jkb=empty cache (compile+write), ref=no cache"))
    return res


if __name__ == "__main__":
    if "--probe" in sys.argv:
        probe(sys.argv[sys.argv.index("--probe") + 1])
    else:
        main_of(run)
