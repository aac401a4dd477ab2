"""Each convolution and pooling piece of jkb against the plain ``lax`` call, by piece.

For every case, three jitted programs per side, each timed as jkb / lax, interleaved in
one process: the forward pass (``fwd``); the gradient in the input (``dx``) and in the
kernel (``dk``; pooling has none) of ``relu(op(x, k))`` for a given output gradient, the
forward pass included, as in a training step (a formulation may share work between the
forward pass and a gradient, and XLA fuses the ReLU's gradient into what consumes it; a
gradient timed alone would miss both). For pooling the input goes through the ReLU. jkb
may pick another formulation per platform (see jkb/platform.py and jkb/conv.py); the
reference is what a JAX user would write with ``lax`` (same XLA flags: the process
imported jkb). Target <= 1.10 per piece
(no piece slower than the plain op, within this machine's noise).

Shapes are those of the benchmark CNNs (small CNN, batch 128; CIFAR-sized CNN, batch 64)
and of typical Keras layers of the other kinds.
"""

from __future__ import annotations

import numpy as np
from _common import Result, main_of, paired, pick

CL = "channels_last"


def _pads_same(sizes, ks, strides):
    out = []
    for n, k, s in zip(sizes, ks, strides):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        out.append((total // 2, total - total // 2))
    return out


def cases():
    """(name, x shape, kernel shape or None, jkb fn(x, k), lax fn(x, k))."""
    import jax.numpy as jnp
    from jax import lax

    import jkb as K

    def conv(nd, strides=None, padding="valid"):
        sp = "DHW"[3 - nd:]
        dn = ("N" + sp + "C", sp + "IO", "N" + sp + "C")
        strides = strides or (1,) * nd
        kfn = {1: K.conv1d, 2: K.conv2d, 3: K.conv3d}[nd]

        def j(x, k):
            return kfn(x, k, strides if nd > 1 else strides[0], padding, CL)

        def r(x, k):
            pads = (_pads_same(x.shape[1:-1], k.shape[:nd], strides) if padding == "same"
                    else "VALID")
            return lax.conv_general_dilated(x, k, strides, pads, dimension_numbers=dn)
        return j, r

    def depthwise(x, k):
        c = x.shape[-1]
        pads = _pads_same(x.shape[1:3], k.shape[:2], (1, 1))
        return lax.conv_general_dilated(x, jnp.reshape(k, (3, 3, 1, c)), (1, 1), pads,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=c)

    def transpose(x, k):
        # 2x upsampling with a 3x3 kernel, 'same' (the forward conv pads (0, 1)): x spread
        # by lhs_dilation and padded (2, 1), correlated with the flipped kernel
        return lax.conv_general_dilated(x, jnp.flip(k, (0, 1)), (1, 1), [(2, 1), (2, 1)],
                                        lhs_dilation=(2, 2),
                                        dimension_numbers=("NHWC", "HWOI", "NHWC"))

    def transpose3d(x, k):
        # the same in 3-D, 2x in every spatial dim
        return lax.conv_general_dilated(x, jnp.flip(k, (0, 1, 2)), (1, 1, 1), [(2, 1)] * 3,
                                        lhs_dilation=(2, 2, 2),
                                        dimension_numbers=("NDHWC", "DHWOI", "NDHWC"))

    def pool(mode, nd=2):
        def j(x, k=None):
            fn = K.pool2d if nd == 2 else K.pool3d
            return fn(x, (2,) * nd, (2,) * nd, "valid", CL, mode)

        def r(x, k=None):
            win = (1,) + (2,) * nd + (1,)
            if mode == "max":
                return lax.reduce_window(x, -jnp.inf, lax.max, win, win, "VALID")
            return lax.reduce_window(x, 0.0, lax.add, win, win, "VALID") / 2 ** nd
        return j, r

    c2, c2s = conv(2), conv(2, padding="same")
    return [
        ("conv2d.cnn_layer1", (128, 28, 28, 1), (3, 3, 1, 32), *c2),
        ("conv2d.cnn_layer2", (128, 13, 13, 32), (3, 3, 32, 64), *c2),
        ("conv2d.cifar_layer1", (64, 32, 32, 3), (3, 3, 3, 32), *c2s),
        ("conv2d.cifar_layer2", (64, 32, 32, 32), (3, 3, 32, 32), *c2),
        ("conv2d.strided", (64, 32, 32, 32), (3, 3, 32, 64), *conv(2, (2, 2), "same")),
        ("conv1d", (64, 128, 32), (5, 32, 64), *conv(1, padding="same")),
        ("conv3d", (8, 16, 16, 16, 8), (3, 3, 3, 8, 16), *conv(3, padding="same")),
        ("conv3d.one_filter", (8, 10, 20, 20, 16), (3, 3, 3, 16, 1), *conv(3, padding="same")),
        ("conv3d_transpose.up2", (4, 8, 16, 16, 32), (3, 3, 3, 16, 32),
         lambda x, k: K.conv3d_transpose(x, k, (4, 16, 32, 32, 16), (2, 2, 2), "same", CL),
         transpose3d),
        ("conv2d_transpose.up2", (32, 16, 16, 64), (3, 3, 32, 64),
         lambda x, k: K.conv2d_transpose(x, k, (32, 32, 32, 32), (2, 2), "same", CL),
         transpose),
        ("depthwise_conv2d", (32, 32, 32, 64), (3, 3, 64, 1),
         lambda x, k: K.depthwise_conv2d(x, k, (1, 1), "same", CL), depthwise),
        ("pool2d.max.cnn", (128, 26, 26, 32), None, *pool("max")),
        ("pool2d.max.cifar", (64, 30, 30, 32), None, *pool("max")),
        ("pool2d.avg", (64, 30, 30, 32), None, *pool("avg")),
        ("pool3d.max", (8, 16, 16, 16, 16), None, *pool("max", 3)),
    ]


def _programs(f, has_kernel):
    """The jitted pieces of ``f(x, k)``, each ``(x, k, g) -> array``: forward, input
    gradient, kernel gradient (``g`` is an argument, so XLA cannot fold it)."""
    import jax

    if has_kernel:
        def layer(x, k):
            return jax.nn.relu(f(x, k))
    else:
        def layer(x, k):
            return f(jax.nn.relu(x), k)
    out = {"fwd": jax.jit(lambda x, k, g: f(x, k)),
           "dx": jax.jit(lambda x, k, g: jax.vjp(lambda a: layer(a, k), x)[1](g)[0])}
    if has_kernel:
        out["dk"] = jax.jit(lambda x, k, g: jax.vjp(lambda b: layer(x, b), k)[1](g)[0])
    return out


def _timed_pair(a, b, args, rounds):
    import jax

    np.testing.assert_allclose(np.asarray(a(*args)), np.asarray(b(*args)), rtol=2e-3,
                               atol=2e-2)
    return paired(lambda: jax.block_until_ready(a(*args)),
                  lambda: jax.block_until_ready(b(*args)), inner=1, rounds=rounds,
                  min_sample_s=0.02)


def run(mode):
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    res = []
    rounds = pick(mode, 7, 15, 31)
    for name, xs, ks, fj, fr in cases():
        x = jnp.asarray(rng.standard_normal(xs, dtype=np.float32))
        k = None if ks is None else jnp.asarray(rng.standard_normal(ks, dtype=np.float32))
        g = jnp.asarray(rng.standard_normal(fr(x, k).shape, dtype=np.float32))
        pj, pr = _programs(fj, k is not None), _programs(fr, k is not None)
        for piece in pj:
            r = _timed_pair(pj[piece], pr[piece], (x, k, g), rounds)
            res.append(Result(f"conv_pieces.{name}.{piece}", ratio=r.ratio, target=1.10,
                              jkb=r.a_ms, ref=r.b_ms,
                              extra={"p10_ratio": round(r.p10_ratio, 3)}))
    return res


if __name__ == "__main__":
    main_of(run)
