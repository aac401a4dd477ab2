"""Convolutions and pooling against NumPy references written with explicit loops."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from opcheck import check

import jkb as K

RNG = np.random.default_rng(0)
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}
CF, CL = "channels_first", "channels_last"


def rand(*shape, dtype="float32"):
    return RNG.uniform(-1.0, 1.0, size=shape).astype(dtype)


# ----------------------------------------------------------------------------- references


def tf_pads(sizes, ksizes, strides, dils, padding):
    """Per-dim (before, after) padding, following the rule quoted in the reference."""
    out = []
    for n, k, s, d in zip(sizes, ksizes, strides, dils):
        if padding == "same":
            total = max((int(np.ceil(n / s)) - 1) * s + (k - 1) * d + 1 - n, 0)
            out.append((total // 2, total - total // 2))
        elif padding == "causal":
            out.append(((k - 1) * d, 0))
        else:
            out.append((0, 0))
    return out


def to_last(x, df):
    return np.moveaxis(x, 1, -1) if df == CF else x


def from_last(x, df):
    return np.moveaxis(x, -1, 1) if df == CF else x


def _windows(xl, ksizes, strides, dils, padding):
    """Yields (kernel offset, strided slice of the padded channels-last input)."""
    n = len(ksizes)
    pads = tf_pads(xl.shape[1:-1], ksizes, strides, dils, padding)
    xp = np.pad(xl, [(0, 0)] + pads + [(0, 0)])
    outs = [(p - (k - 1) * d - 1) // s + 1
            for p, k, s, d in zip(xp.shape[1:-1], ksizes, strides, dils)]
    for off in np.ndindex(*ksizes):
        sl = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                   for o, d, m, s in zip(off, dils, outs, strides))
        yield off, xp[(slice(None),) + sl + (slice(None),)]
    assert len(outs) == n


def ref_conv(x, k, strides, padding, df, dils):
    n = k.ndim - 2
    xl = to_last(x, df).astype(np.float64)
    out = 0
    for off, win in _windows(xl, k.shape[:n], strides, dils, padding):
        out = out + np.einsum("...i,io->...o", win, k[off].astype(np.float64))
    return from_last(out, df).astype(np.result_type(x, k))


def ref_depthwise(x, dk, strides, padding, df, dils):
    n = dk.ndim - 2
    xl = to_last(x, df).astype(np.float64)
    out = 0
    for off, win in _windows(xl, dk.shape[:n], strides, dils, padding):
        y = np.einsum("...c,cm->...cm", win, dk[off].astype(np.float64))
        out = out + y.reshape(y.shape[:-2] + (-1,))
    return from_last(out, df).astype(np.result_type(x, dk))


def ref_conv_transpose(x, k, out_shape, strides, padding, df, dils):
    """Scatter: input cell i sends x[i] @ k[off].T to output cell i*s + off*d - pad."""
    n = k.ndim - 2
    xl = to_last(x, df).astype(np.float64)
    out_sizes = out_shape[1:-1] if df == CL else out_shape[2:]
    pads = tf_pads(out_sizes, k.shape[:n], strides, dils, padding)
    buf = np.zeros((xl.shape[0],) + tuple(o + lo + hi for o, (lo, hi) in zip(out_sizes, pads))
                   + (k.shape[-2],))
    for idx in np.ndindex(*xl.shape[1:-1]):
        for off in np.ndindex(*k.shape[:n]):
            pos = tuple(i * s + o * d for i, s, o, d in zip(idx, strides, off, dils))
            buf[(slice(None),) + pos] += xl[(slice(None),) + idx] @ k[off].T
    crop = tuple(slice(lo, lo + o) for o, (lo, _) in zip(out_sizes, pads))
    return from_last(buf[(slice(None),) + crop], df).astype(np.result_type(x, k))


def ref_pool(x, pool, strides, padding, df, mode):
    xl = to_last(x, df)
    sizes = xl.shape[1:-1]
    pads = tf_pads(sizes, pool, strides, (1,) * len(pool), padding)
    outs = [(n + lo + hi - k) // s + 1 for n, (lo, hi), k, s in zip(sizes, pads, pool, strides)]
    out = np.zeros((xl.shape[0],) + tuple(outs) + (xl.shape[-1],), x.dtype)
    for idx in np.ndindex(*outs):
        sl = []
        for i, s, (lo, _), k, n in zip(idx, strides, pads, pool, sizes):
            start = i * s - lo
            sl.append(slice(max(start, 0), min(start + k, n)))
        win = xl[(slice(None),) + tuple(sl)]
        axes = tuple(range(1, 1 + len(pool)))
        red = win.max(axis=axes) if mode == "max" else win.astype(np.float64).mean(axis=axes)
        out[(slice(None),) + idx] = red
    return from_last(out, df)


def ref_local1d(x, k, ksize, stride):
    length = k.shape[0]
    out = np.zeros((x.shape[0], length, k.shape[2]))
    for i in range(length):
        patch = x[:, i * stride:i * stride + ksize, :].reshape(x.shape[0], -1)
        out[:, i] = patch @ k[i]
    return out.astype(x.dtype)


def ref_local2d(x, k, ksize, strides, out_shape, df):
    rows, cols = out_shape
    out = np.zeros((x.shape[0], rows, cols, k.shape[2]))
    for r in range(rows):
        for c in range(cols):
            rs = slice(r * strides[0], r * strides[0] + ksize[0])
            cs = slice(c * strides[1], c * strides[1] + ksize[1])
            patch = x[:, :, rs, cs] if df == CF else x[:, rs, cs, :]
            out[:, r, c] = patch.reshape(x.shape[0], -1) @ k[r * cols + c]
    return (np.moveaxis(out, -1, 1) if df == CF else out).astype(x.dtype)


def grid(cases, formats=(CL, CF)):
    """Each case in each data format; the dtype alternates so both are covered evenly."""
    return [pytest.param(*case, df, ("float32", "float64")[(i + j) % 2],
                         id=f"{i}-{df[9:]}")
            for i, case in enumerate(cases) for j, df in enumerate(formats)]


def xshape(batch, spatial, ch, df):
    return (batch,) + tuple(spatial) + (ch,) if df == CL else (batch, ch) + tuple(spatial)


# ----------------------------------------------------------------------------- hand cases


def test_same_padding_puts_the_odd_pixel_at_the_end():
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 4, 1)
    k = np.array([1.0, 10.0], np.float32).reshape(2, 1, 1)
    got = np.asarray(K.conv1d(x, k, padding="same"))
    np.testing.assert_allclose(got.ravel(), [21.0, 32.0, 43.0, 4.0])
    k3 = np.array([1.0, 10.0, 100.0, 1000.0], np.float32).reshape(4, 1, 1)
    # total padding 3: one zero before, two after
    got = np.asarray(K.conv1d(x, k3, padding="same")).ravel()
    np.testing.assert_allclose(got, [10 + 200 + 3000 + 0, 1 + 20 + 300 + 4000,
                                     2 + 30 + 400, 3 + 40])


def test_causal_padding_only_looks_back():
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 4, 1)
    k = np.array([1.0, 10.0], np.float32).reshape(2, 1, 1)
    got = np.asarray(K.conv1d(x, k, padding="causal", dilation_rate=2)).ravel()
    np.testing.assert_allclose(got, [10.0, 20.0, 1 + 30.0, 2 + 40.0])


def test_avg_pool_same_ignores_padded_cells():
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1)
    got = np.asarray(K.pool2d(x, (2, 1), strides=(2, 1), padding="same", pool_mode="avg"))
    np.testing.assert_allclose(got.ravel(), [1.5, 3.0])
    neg = -x
    got = np.asarray(K.pool2d(neg, (2, 1), strides=(2, 1), padding="same", pool_mode="max"))
    np.testing.assert_allclose(got.ravel(), [-1.0, -3.0])


# ----------------------------------------------------------------------------- conv1d/2d/3d


CONV1D = [  # (length, k, strides, padding, dilation)
    (7, 3, 1, "valid", 1), (7, 2, 1, "same", 1), (8, 3, 2, "same", 1), (7, 4, 3, "same", 1),
    (9, 3, 1, "same", 2), (9, 2, 2, "valid", 2), (6, 3, 1, "causal", 1),
    (8, 2, 2, "causal", 3),
]


@pytest.mark.parametrize("length,k,s,padding,d,df,dtype", [
    case for case in grid(CONV1D) if not (case.values[3] == "causal" and case.values[5] == CF)
])  # causal padding is channels_last only (its error is tested in test_errors)
def test_conv1d(length, k, s, padding, d, df, dtype):
    x = rand(*xshape(2, (length,), 3, df), dtype=dtype)
    w = rand(k, 3, 4, dtype=dtype)
    check(lambda a, b: K.conv1d(a, b, s, padding, df, d),
          lambda a, b: ref_conv(a, b, (s,), padding, df, (d,)),
          x, w, none=["batch", None], **TOL[dtype])


CONV2D = [  # (spatial, kernel, strides, padding, dilation)
    ((5, 6), (3, 3), (1, 1), "valid", (1, 1)), ((5, 6), (2, 3), (1, 1), "same", (1, 1)),
    ((6, 7), (3, 2), (2, 3), "same", (1, 1)), ((7, 5), (3, 3), (2, 2), "valid", (1, 1)),
    ((7, 7), (3, 2), (1, 1), "same", (2, 3)), ((8, 7), (2, 2), (1, 1), "valid", (2, 1)),
    ((4, 4), (1, 1), (3, 2), "same", (1, 1)), ((7, 8), (2, 3), (2, 2), "same", (2, 2)),
]


@pytest.mark.parametrize("spatial,ks,s,padding,d,df,dtype", grid(CONV2D))
def test_conv2d(spatial, ks, s, padding, d, df, dtype):
    x = rand(*xshape(2, spatial, 3, df), dtype=dtype)
    w = rand(*ks, 3, 2, dtype=dtype)
    check(lambda a, b: K.conv2d(a, b, s, padding, df, d),
          lambda a, b: ref_conv(a, b, s, padding, df, d),
          x, w, none=["batch", None], **TOL[dtype])


def test_conv2d_unknown_spatial_dims_and_default_format():
    x, w = rand(2, 6, 5, 3), rand(3, 2, 3, 4)
    check(lambda a, b: K.conv2d(a, b, (2, 1), "same"),
          lambda a, b: ref_conv(a, b, (2, 1), "same", CL, (1, 1)),
          x, w, none=[(None, None, None, 3), None], **TOL["float32"])
    K.set_image_data_format(CF)
    xc = rand(2, 3, 6, 5)
    check(lambda a, b: K.conv2d(a, b, padding="same"),
          lambda a, b: ref_conv(a, b, (1, 1), "same", CF, (1, 1)),
          xc, w, none=["batch", None], **TOL["float32"])


CONV3D = [
    ((4, 5, 4), (2, 3, 2), (1, 1, 1), "valid", (1, 1, 1)),
    ((4, 5, 5), (3, 2, 2), (2, 1, 2), "same", (1, 1, 1)),
    ((5, 4, 5), (2, 2, 3), (1, 1, 1), "same", (2, 1, 2)),
]


@pytest.mark.parametrize("spatial,ks,s,padding,d,df,dtype", grid(CONV3D))
def test_conv3d(spatial, ks, s, padding, d, df, dtype):
    x = rand(*xshape(2, spatial, 2, df), dtype=dtype)
    w = rand(*ks, 2, 3, dtype=dtype)
    check(lambda a, b: K.conv3d(a, b, s, padding, df, d),
          lambda a, b: ref_conv(a, b, s, padding, df, d),
          x, w, none=["batch", None], **TOL[dtype])


def test_mixed_float_dtypes_promote():
    x, w = rand(2, 5, 3, dtype="float32"), rand(2, 3, 2, dtype="float64")
    y = K.conv1d(x, w)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref_conv(x, w, (1,), "valid", CL, (1,)), rtol=1e-6)
    h = K.conv2d(rand(1, 4, 4, 2, dtype="float16"), rand(2, 2, 2, 3, dtype="float16"))
    assert h.dtype == np.float16


# ----------------------------------------------------------------------------- transposed


TRANSPOSE2D = [  # (out spatial, kernel, strides, padding, dilation)
    ((5, 6), (3, 3), (1, 1), "valid", (1, 1)), ((5, 6), (2, 3), (1, 1), "same", (1, 1)),
    ((8, 7), (3, 3), (2, 2), "same", (1, 1)), ((7, 8), (3, 2), (2, 3), "same", (1, 1)),
    ((7, 7), (3, 3), (2, 2), "valid", (1, 1)), ((8, 8), (3, 3), (2, 2), "valid", (1, 1)),
    ((9, 6), (4, 2), (3, 1), "valid", (1, 1)), ((7, 8), (3, 2), (1, 1), "same", (2, 2)),
    ((9, 8), (2, 3), (1, 1), "valid", (2, 3)), ((9, 8), (3, 2), (2, 2), "same", (2, 1)),
]


def _in_spatial(out_sp, ks, s, padding, d):
    pads = tf_pads(out_sp, ks, s, d, padding)
    return tuple((o + lo + hi - (k - 1) * dd - 1) // ss + 1
                 for o, (lo, hi), k, ss, dd in zip(out_sp, pads, ks, s, d))


@pytest.mark.parametrize("out_sp,ks,s,padding,d,df,dtype", grid(TRANSPOSE2D))
def test_conv2d_transpose(out_sp, ks, s, padding, d, df, dtype):
    in_sp = _in_spatial(out_sp, ks, s, padding, d)
    x = rand(*xshape(2, in_sp, 4, df), dtype=dtype)
    w = rand(*ks, 3, 4, dtype=dtype)  # (kh, kw, out, in)
    full = xshape(2, out_sp, 3, df)
    check(lambda a, b: K.conv2d_transpose(a, b, (None,) + full[1:], s, padding, df, d),
          lambda a, b: ref_conv_transpose(a, b, full, s, padding, df, d),
          x, w, none=["batch", None], **TOL[dtype])


@pytest.mark.parametrize("out_sp,ks,s,padding,d,df", [
    case + ((CL, CF)[i % 2],) for i, case in enumerate(TRANSPOSE2D)])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(out_sp, ks, s, padding, d, df):
    in_sp = _in_spatial(out_sp, ks, s, padding, d)
    x = rand(*xshape(2, in_sp, 4, df), dtype="float64")
    w = rand(*ks, 3, 4, dtype="float64")
    y0 = jnp.zeros(xshape(2, out_sp, 3, df), jnp.float64)
    _, vjp = jax.vjp(lambda y: K.conv2d(y, w, s, padding, df, d), y0)
    np.testing.assert_allclose(
        K.conv2d_transpose(x, w, xshape(2, out_sp, 3, df), s, padding, df, d), vjp(x)[0],
        rtol=1e-12, atol=1e-12)


def test_conv2d_transpose_output_shape_from_k_shape():
    """Keras' Conv2DTranspose builds output_shape from K.shape of its input."""
    x, w = rand(2, 3, 4, 4), rand(3, 3, 2, 4)
    inp = K.placeholder((None, None, None, 4))
    s = K.shape(inp)
    out = K.conv2d_transpose(inp, w, (s[0], s[1] * 2, s[2] * 2 - 1, 2), (2, 2), "same")
    assert K.int_shape(out) == (None, None, None, 2)
    got = K.function([inp], [out])([x])[0]
    want = ref_conv_transpose(x, w, (2, 6, 7, 2), (2, 2), "same", CL, (1, 1))
    np.testing.assert_allclose(got, want, **TOL["float32"])
    # a 1-D shape vector works too, concrete (plain mode) or symbolic
    target = np.zeros((2, 6, 7, 2))
    np.testing.assert_allclose(K.conv2d_transpose(x, w, K.shape(target), (2, 2), "same"),
                               want, **TOL["float32"])
    sym = K.conv2d_transpose(K.variable(x), w, K.shape(K.variable(target)), (2, 2), "same")
    np.testing.assert_allclose(K.eval(sym), want, **TOL["float32"])


@pytest.mark.parametrize("out_sp,ks,s,padding,df,dtype", grid([
    ((4, 5, 4), (2, 3, 2), (1, 1, 1), "valid"), ((6, 5, 4), (3, 2, 2), (2, 2, 1), "same"),
    ((5, 5, 6), (2, 2, 3), (2, 1, 2), "valid"),
]))
def test_conv3d_transpose(out_sp, ks, s, padding, df, dtype):
    in_sp = _in_spatial(out_sp, ks, s, padding, (1, 1, 1))
    x = rand(*xshape(2, in_sp, 3, df), dtype=dtype)
    w = rand(*ks, 2, 3, dtype=dtype)
    full = xshape(2, out_sp, 2, df)
    check(lambda a, b: K.conv3d_transpose(a, b, (None,) + full[1:], s, padding, df),
          lambda a, b: ref_conv_transpose(a, b, full, s, padding, df, (1, 1, 1)),
          x, w, none=["batch", None], **TOL[dtype])


# ----------------------------------------------------------------------------- depthwise


DEPTHWISE = [  # (spatial, kernel, dm, strides, padding, dilation)
    ((5, 6), (3, 3), 1, (1, 1), "valid", (1, 1)), ((5, 6), (2, 3), 2, (1, 1), "same", (1, 1)),
    ((7, 6), (3, 2), 3, (2, 2), "same", (1, 1)), ((7, 8), (2, 2), 2, (1, 1), "same", (2, 3)),
    ((6, 7), (3, 3), 2, (2, 3), "valid", (1, 1)),
]


@pytest.mark.parametrize("spatial,ks,dm,s,padding,d,df,dtype", grid(DEPTHWISE))
def test_depthwise_conv2d(spatial, ks, dm, s, padding, d, df, dtype):
    x = rand(*xshape(2, spatial, 3, df), dtype=dtype)
    dk = rand(*ks, 3, dm, dtype=dtype)
    check(lambda a, b: K.depthwise_conv2d(a, b, s, padding, df, d),
          lambda a, b: ref_depthwise(a, b, s, padding, df, d),
          x, dk, none=["batch", None], **TOL[dtype])


def test_depthwise_channel_order_is_channel_major():
    x, dk = rand(2, 5, 5, 3, dtype="float64"), rand(3, 3, 3, 2, dtype="float64")
    y = np.asarray(K.depthwise_conv2d(x, dk, padding="same"))
    for c, m in itertools.product(range(3), range(2)):
        single = K.conv2d(x[..., c:c + 1], dk[:, :, c:c + 1, m:m + 1], padding="same")
        np.testing.assert_allclose(y[..., c * 2 + m], np.asarray(single)[..., 0], rtol=1e-12)


SEPARABLE = [  # (spatial, kernel, dm, strides, padding, dilation)
    ((6, 5), (3, 3), 1, (1, 1), "valid", (1, 1)), ((6, 5), (2, 3), 2, (2, 1), "same", (1, 1)),
    ((7, 7), (3, 2), 2, (1, 1), "same", (2, 2)),
]


@pytest.mark.parametrize("spatial,ks,dm,s,padding,d,df,dtype", grid(SEPARABLE))
def test_separable_conv2d(spatial, ks, dm, s, padding, d, df, dtype):
    x = rand(*xshape(2, spatial, 3, df), dtype=dtype)
    dk, pk = rand(*ks, 3, dm, dtype=dtype), rand(1, 1, 3 * dm, 4, dtype=dtype)
    check(lambda a, b, c: K.separable_conv2d(a, b, c, s, padding, df, d),
          lambda a, b, c: ref_conv(ref_depthwise(a, b, s, padding, df, d), c, (1, 1),
                                   "valid", df, (1, 1)),
          x, dk, pk, none=["batch", None, None], **TOL[dtype])


@pytest.mark.parametrize("length,k,dm,s,padding,d,df,dtype", grid([
    (7, 3, 1, 1, "valid", 1), (8, 2, 2, 2, "same", 1), (9, 3, 2, (1,), "same", (2,)),
]))
def test_separable_conv1d(length, k, dm, s, padding, d, df, dtype):
    x = rand(*xshape(2, (length,), 3, df), dtype=dtype)
    dk, pk = rand(k, 3, dm, dtype=dtype), rand(1, 3 * dm, 4, dtype=dtype)
    si, di = (s,) if isinstance(s, int) else s, (d,) if isinstance(d, int) else d
    check(lambda a, b, c: K.separable_conv1d(a, b, c, s, padding, df, d),
          lambda a, b, c: ref_conv(ref_depthwise(a, b, si, padding, df, di), c, (1,),
                                   "valid", df, (1,)),
          x, dk, pk, none=["batch", None, None], **TOL[dtype])


# ----------------------------------------------------------------------------- pooling


POOL2D = [  # (spatial, pool, strides, padding)
    ((6, 6), (2, 2), (2, 2), "valid"), ((5, 7), (2, 2), (2, 2), "same"),
    ((5, 6), (3, 2), (1, 1), "same"), ((7, 5), (3, 3), (2, 1), "valid"),
    ((7, 8), (2, 3), (3, 2), "same"), ((4, 5), (1, 1), (3, 3), "same"),
    # non-overlapping windows (strided slices on the CPU): odd sizes, split 'same' padding,
    # strides beyond the window, the (k, 1) windows of Keras' 1-D pooling
    ((7, 8), (3, 2), (3, 4), "same"), ((7, 7), (3, 3), (3, 3), "same"),
    ((7, 5), (2, 2), (2, 2), "valid"), ((9, 1), (2, 1), (2, 1), "same"),
]


@pytest.mark.parametrize("spatial,pool,s,padding,mode,df,dtype",
                         grid([c + (m,) for c in POOL2D for m in ("max", "avg")]))
def test_pool2d(spatial, pool, s, padding, mode, df, dtype):
    x = rand(*xshape(2, spatial, 3, df), dtype=dtype)
    check(lambda a: K.pool2d(a, pool, s, padding, df, mode),
          lambda a: ref_pool(a, pool, s, padding, df, mode), x, **TOL[dtype])


@pytest.fixture
def chunk_small_convs(monkeypatch):
    """Makes the CPU formulation split the kernel gradients of even test-sized convolutions
    into batch chunks (it splits by amount of work, and these have too little), with JAX's
    caches cleared so that no trace made under the real threshold is reused."""
    from jkb import conv as C
    monkeypatch.setattr(C, "_CHUNK_FLOPS", 1.0)
    jax.clear_caches()
    yield
    jax.clear_caches()


@pytest.fixture(params=["cpu", "lax"])
def conv_formulation(request, monkeypatch):
    """Runs a test with the CPU formulations of the convolutions (small ones split into
    batch chunks as large ones are) and with the plain lax ones other platforms use
    (chosen by making jkb believe it traces for a GPU)."""
    if request.param == "lax":
        monkeypatch.setattr(K.platform, "platform", lambda: "gpu")
    else:
        request.getfixturevalue("chunk_small_convs")
    return request.param


@pytest.fixture(params=["cpu", "reduce_window"])
def pool_formulation(request, monkeypatch):
    """Runs a test with the CPU formulation of pooling and with the one other platforms
    use (``lax.reduce_window``, chosen by making jkb believe it traces for a GPU)."""
    if request.param == "reduce_window":
        monkeypatch.setattr(K.platform, "platform", lambda: "gpu")
    return request.param


@pytest.mark.parametrize("spatial,pool,s,padding,mode,df,dtype", grid([
    ((7, 5), (2, 2), (2, 2), "same", "max"), ((6, 7), (3, 2), (3, 2), "valid", "avg"),
]))
def test_pool2d_formulations_agree(spatial, pool, s, padding, mode, df, dtype,
                                   pool_formulation):
    x = rand(*xshape(2, spatial, 3, df), dtype=dtype)
    check(lambda a: K.pool2d(a, pool, s, padding, df, mode),
          lambda a: ref_pool(a, pool, s, padding, df, mode), x, **TOL[dtype])


def ref_max_pool_grad(x, g, pool, strides, padding, df):
    """d sum(g * max_pool(x)) / dx: each window's g goes to its first maximum (row-major
    order over the window's real cells), as in TF."""
    xl, gl = to_last(x, df), to_last(g, df)
    sizes = xl.shape[1:-1]
    pads = tf_pads(sizes, pool, strides, (1,) * len(pool), padding)
    dx = np.zeros_like(xl)
    for b in range(xl.shape[0]):
        for c in range(xl.shape[-1]):
            for idx in np.ndindex(*gl.shape[1:-1]):
                cells = [range(max(i * s - lo, 0), min(i * s - lo + k, n))
                         for i, s, (lo, _), k, n in zip(idx, strides, pads, pool, sizes)]
                cells = list(itertools.product(*cells))
                vals = [xl[(b,) + cell + (c,)] for cell in cells]
                dx[(b,) + cells[int(np.argmax(vals))] + (c,)] += gl[(b,) + idx + (c,)]
    return from_last(dx, df)


@pytest.mark.parametrize("n,spatial,pool,s,padding,df", [
    (2, (6, 6), (2, 2), (2, 2), "valid", CL), (2, (7, 5), (2, 2), (2, 2), "same", CF),
    (2, (7, 7), (3, 3), (3, 3), "same", CL), (2, (8, 3), (2, 1), (2, 1), "valid", CL),
    (2, (6, 7), (3, 2), (2, 1), "same", CL),  # overlapping: reduce_window everywhere
    (3, (4, 5, 4), (2, 2, 2), (2, 2, 2), "same", CF),
])
def test_max_pool_gradient_goes_to_the_first_maximum(n, spatial, pool, s, padding, df,
                                                      pool_formulation):
    # Few distinct values: ties everywhere, before and after ReLU (negative values become
    # tied zeros whose ReLU derivative is 0). No exact zeros, where ReLU's derivative is a
    # convention of its own.
    pre = RNG.choice([-2.0, -1.0, 1.0, 2.0], size=xshape(2, spatial, 3, df))
    pool_fn = K.pool2d if n == 2 else K.pool3d
    out_shape = pool_fn(pre, pool, s, padding, df).shape
    g = RNG.uniform(0.5, 1.5, size=out_shape)

    def loss(a, with_relu):
        h = K.relu(a) if with_relu else a
        return jnp.sum(pool_fn(h, pool, s, padding, df, "max") * g)

    got = jax.jit(jax.grad(loss), static_argnums=1)(pre, False)
    np.testing.assert_allclose(got, ref_max_pool_grad(pre, g, pool, s, padding, df))
    h = np.maximum(pre, 0)
    want = (pre > 0) * ref_max_pool_grad(h, g, pool, s, padding, df)
    got = jax.jit(jax.grad(loss), static_argnums=1)(pre, True)
    np.testing.assert_allclose(got, want)


def test_pool2d_int_max_and_unknown_dims():
    x = RNG.integers(-50, 50, size=(2, 5, 5, 2)).astype("int32")
    check(lambda a: K.pool2d(a, (2, 2), (2, 2), "same"),
          lambda a: ref_pool(a, (2, 2), (2, 2), "same", CL, "max"), x, none="all")


@pytest.mark.parametrize("spatial,pool,s,padding,mode,df,dtype", grid([
    ((4, 4, 4), (2, 2, 2), (2, 2, 2), "valid", "max"),
    ((5, 4, 5), (2, 3, 2), (2, 1, 2), "same", "avg"),
    ((3, 5, 4), (3, 2, 2), (1, 2, 3), "same", "max"),
    ((4, 3, 5), (2, 2, 3), (3, 1, 2), "same", "avg"),
    ((5, 4, 3), (2, 2, 2), (2, 2, 2), "same", "avg"),
]))
def test_pool3d(spatial, pool, s, padding, mode, df, dtype):
    x = rand(*xshape(2, spatial, 2, df), dtype=dtype)
    check(lambda a: K.pool3d(a, pool, s, padding, df, mode),
          lambda a: ref_pool(a, pool, s, padding, df, mode), x, **TOL[dtype])


# ----------------------------------------------------------------------------- unshared


@pytest.mark.parametrize("steps,k,s,dtype", [(7, 3, 1, "float32"), (8, 2, 2, "float64"),
                                              (9, 3, 3, "float32"), (6, 1, 1, "float64")])
def test_local_conv1d(steps, k, s, dtype):
    length = (steps - k) // s + 1
    x, w = rand(2, steps, 3, dtype=dtype), rand(length, k * 3, 4, dtype=dtype)
    check(lambda a, b: K.local_conv1d(a, b, (k,), (s,)),
          lambda a, b: ref_local1d(a, b, k, s), x, w, none=["batch", None], **TOL[dtype])


def _local1d_cf_kernel(w, k, channels):
    """A channels_last kernel (L, k * in, F) flattened as (in, k) for channels_first."""
    length, _, filters = w.shape
    return w.reshape(length, k, channels, filters).transpose(0, 2, 1, 3).reshape(
        length, channels * k, filters)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_local_conv1d_channels_first(dtype):
    # (batch, in, steps) input, patches flattened as (in, k), (batch, filters, L) output:
    # the same numbers as channels_last on transposed data.
    x, w = rand(2, 7, 3, dtype=dtype), rand(3, 9, 2, dtype=dtype)
    want = np.moveaxis(ref_local1d(x, w, 3, 2), -1, 1)
    w_cf = _local1d_cf_kernel(w, 3, 3)
    check(lambda a, b: K.local_conv1d(a, b, (3,), (2,), CF),
          lambda a, b: want, np.moveaxis(x, -1, 1), w_cf, none=["batch", None],
          **TOL[dtype])


def test_local_conv1d_data_format_none_is_channels_last():
    # Keras 2.3.1's LocallyConnected1D passes no data format and feeds channels_last data,
    # whatever image_data_format() says.
    x, w = rand(2, 7, 3), rand(3, 9, 2)
    want = ref_local1d(x, w, 3, 2)
    K.set_image_data_format(CF)
    for df in (None, CL):
        np.testing.assert_allclose(K.local_conv1d(x, w, (3,), (2,), df), want,
                                   **TOL["float32"])
    with pytest.raises(ValueError, match="kernel_size"):
        K.local_conv1d(x, w, (3,), (2,), CF)  # (2, 7, 3) read as 7 channels


def test_local_conv_integers_keep_their_dtype():
    # TF builds the locally connected ops from matmul, which takes integers.
    x = np.arange(2 * 5 * 2).reshape(2, 5, 2).astype("int32")
    w = np.ones((2, 6, 1), "int32")
    got = K.local_conv1d(x, w, (3,), (2,))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref_local1d(x.astype("f8"), w.astype("f8"), 3, 2))
    with pytest.raises(TypeError, match="local_conv1d"):
        K.local_conv1d(x > 3, w > 0, (3,), (2,))


@pytest.mark.parametrize("spatial,ks,s,df,dtype", grid([
    ((5, 6), (2, 3), (1, 1)), ((7, 6), (3, 2), (2, 2)), ((6, 7), (3, 3), (3, 2))]))
def test_local_conv2d(spatial, ks, s, df, dtype):
    out = tuple((n - k) // st + 1 for n, k, st in zip(spatial, ks, s))
    x = rand(*xshape(2, spatial, 3, df), dtype=dtype)
    w = rand(out[0] * out[1], ks[0] * ks[1] * 3, 4, dtype=dtype)
    check(lambda a, b: K.local_conv2d(a, b, ks, s, out, df),
          lambda a, b: ref_local2d(a, b, ks, s, out, df), x, w, none=["batch", None],
          **TOL[dtype])


def test_local_conv2d_flattening_depends_on_data_format():
    """Same numbers, same kernel: the two layouts read the kernel's rows differently."""
    x, w = rand(1, 4, 4, 2, dtype="float64"), rand(9, 2 * 2 * 2, 1, dtype="float64")
    last = np.asarray(K.local_conv2d(x, w, (2, 2), (1, 1), (3, 3), CL))
    first = np.asarray(K.local_conv2d(np.moveaxis(x, -1, 1), w, (2, 2), (1, 1), (3, 3), CF))
    assert not np.allclose(last[..., 0], first[:, 0])
    # Permuting the kernel rows from (kh, kw, in) to (in, kh, kw) order reconciles them.
    w_cf = w.reshape(9, 2, 2, 2, 1).transpose(0, 3, 1, 2, 4).reshape(9, 8, 1)
    first = np.asarray(K.local_conv2d(np.moveaxis(x, -1, 1), w_cf, (2, 2), (1, 1), (3, 3), CF))
    np.testing.assert_allclose(last[..., 0], first[:, 0], rtol=1e-12)


# ----------------------------------------------------------------------------- gradients


GRAD_CASES = {
    "conv1d": (lambda x, k: K.conv1d(x, k, 2, "causal", dilation_rate=1),
               [(2, 6, 2), (3, 2, 2)]),
    "conv2d": (lambda x, k: K.conv2d(x, k, (2, 1), "same", CF), [(1, 2, 5, 4), (2, 3, 2, 3)]),
    "conv2d_dilated": (lambda x, k: K.conv2d(x, k, (1, 1), "same", dilation_rate=(2, 1)),
                       [(1, 5, 4, 2), (2, 2, 2, 2)]),
    "conv3d": (lambda x, k: K.conv3d(x, k, (1, 2, 1), "same"), [(1, 3, 4, 3, 2), (2, 2, 2, 2, 2)]),
    "conv2d_transpose": (
        lambda x, k: K.conv2d_transpose(x, k, (1, 5, 6, 2), (2, 2), "same", CL),
        [(1, 3, 3, 3), (3, 2, 2, 3)]),
    "conv3d_transpose": (
        lambda x, k: K.conv3d_transpose(x, k, (1, 3, 4, 3, 3), (2, 1, 1), "valid", CF),
        [(1, 2, 2, 2, 2), (2, 2, 2, 3, 2)]),
    "depthwise_conv2d": (lambda x, k: K.depthwise_conv2d(x, k, (1, 2), "same"),
                         [(1, 4, 5, 2), (2, 3, 2, 2)]),
    "separable_conv2d": (lambda x, k, p: K.separable_conv2d(x, k, p, (1, 1), "same", CF),
                         [(1, 2, 4, 4), (2, 2, 2, 2), (1, 1, 4, 3)]),
    "separable_conv1d": (lambda x, k, p: K.separable_conv1d(x, k, p, 1, "valid"),
                         [(1, 5, 2), (2, 2, 1), (1, 2, 3)]),
    "local_conv1d": (lambda x, k: K.local_conv1d(x, k, (2,), (2,)), [(2, 5, 2), (2, 4, 3)]),
    "local_conv2d": (lambda x, k: K.local_conv2d(x, k, (2, 2), (1, 2), (2, 2), CF),
                     [(1, 2, 3, 4), (4, 8, 2)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_conv_gradients(name, conv_formulation):
    fn, shapes = GRAD_CASES[name]
    args = [rand(*s, dtype="float64") for s in shapes]
    # jitted: check_grads calls it many times, and the op must also trace under jit
    check_grads(jax.jit(fn), args, order=1, modes=["rev", "fwd"])


@pytest.mark.parametrize("case", [
    # one input channel, channels_last: the kernel gradient by patches on the CPU
    (lambda x, k: K.conv2d(x, k, (2, 1), "same", dilation_rate=(1, 1)),
     [(2, 5, 6, 1), (3, 2, 1, 4)]),
    (lambda x, k: K.conv1d(x, k, 1, "causal", dilation_rate=2), [(2, 7, 1), (3, 1, 2)]),
    (lambda x, k: K.conv3d(x, k, (1, 2, 1), "valid"), [(1, 4, 5, 3, 1), (2, 2, 2, 1, 3)]),
    # 3-D: 2-D convolutions summed over the kernel's depth, each planned as a 2-D one
    (lambda x, k: K.conv3d(x, k, (2, 1, 2), "same", dilation_rate=(2, 1, 1)),
     [(2, 6, 5, 4, 3), (2, 2, 2, 3, 2)]),
    (lambda x, k: K.conv3d(x, k, (1, 1, 1), "same"), [(4, 5, 4, 3, 2), (3, 2, 2, 2, 3)]),
    (lambda x, k: K.conv3d_transpose(x, k, (2, 5, 6, 3, 2), (2, 2, 1), "same", CL),
     [(2, 3, 3, 3, 3), (2, 3, 2, 2, 3)]),
    (lambda x, k: K.conv3d_transpose(x, k, (2, 4, 3, 5, 2), (1, 1, 2), "valid", CL),
     [(2, 3, 2, 2, 1), (2, 2, 2, 2, 1)]),
    # three input channels and a small batch: lax on every platform
    (lambda x, k: K.conv2d(x, k, (2, 1), "same", dilation_rate=(1, 1)),
     [(2, 5, 6, 3), (3, 2, 3, 4)]),
    # more input channels, a batch of 16 or more and unit strides: the kernel gradient by
    # batch chunks (here forced by ``chunk_small_convs``; strided: plain lax)
    (lambda x, k: K.conv2d(x, k, (1, 1), "same", dilation_rate=(1, 1)),
     [(16, 5, 4, 6), (3, 2, 6, 5)]),
    (lambda x, k: K.conv2d(x, k, (2, 1), "same", dilation_rate=(1, 1)),
     [(16, 5, 4, 6), (3, 2, 6, 5)]),
    (lambda x, k: K.conv1d(x, k, 1, "causal", dilation_rate=2), [(19, 7, 5), (3, 5, 2)]),
    # depthwise convolutions: shifted copies times per-channel weights on the CPU
    (lambda x, k: K.depthwise_conv2d(x, k, (2, 1), "same", CF), [(2, 3, 5, 6), (3, 2, 3, 2)]),
    (lambda x, k, p: K.separable_conv2d(x, k, p, (1, 1), "valid", CL, (2, 1)),
     [(2, 7, 5, 3), (2, 2, 3, 2), (1, 1, 6, 4)]),
    (lambda x, k, p: K.separable_conv1d(x, k, p, 2, "same", CF), [(2, 3, 7), (3, 3, 1),
                                                                  (1, 3, 2)]),
    # a strided transposed convolution: its kernel gradient on a padded input on the CPU
    (lambda x, k: K.conv2d_transpose(x, k, (2, 7, 5, 2), (2, 2), "same", CL, (1, 1)),
     [(2, 4, 3, 3), (3, 2, 2, 3)]),
    (lambda x, k: K.conv2d_transpose(x, k, (2, 3, 7, 8), (3, 2), "valid", CF, (1, 1)),
     [(2, 3, 2, 3), (2, 3, 3, 3)]),
])
def test_conv_cpu_formulations_match_lax(case, monkeypatch, chunk_small_convs):
    """The CPU formulations give the values and first and second derivatives (both modes)
    of the plain lax ones (what other platforms run)."""
    fn, shapes = case
    args = [rand(*s, dtype="float64") for s in shapes]
    got = fn(*args)
    argnums = tuple(range(len(args)))
    grads = jax.grad(lambda *a: jnp.sum(fn(*a) ** 2), argnums=argnums)(*args)
    check_grads(jax.jit(fn), args, order=2, modes=["rev", "fwd"])
    monkeypatch.setattr(K.platform, "platform", lambda: "gpu")
    np.testing.assert_allclose(got, fn(*args), rtol=1e-12)
    want = jax.grad(lambda *a: jnp.sum(fn(*a) ** 2), argnums=argnums)(*args)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_chunk_count():
    """Kernel gradients are split by amount of work (about one chunk per 256 MFLOP, at most
    8 chunks of at least 8 examples): the benchmark CNNs' layers, small batches, the caps."""
    from jkb import conv as C
    same, valid = ((1, 1), (1, 1)), ((0, 0), (0, 0))
    count = lambda x, k, pads, dil=(1, 1): C._chunk_count(x, k, pads, dil)  # noqa: E731
    assert count((64, 32, 32, 3), (3, 3, 3, 32), same) == 1  # 113 MFLOP
    assert count((64, 32, 32, 32), (3, 3, 32, 32), valid) == 4  # 1.06 GFLOP
    assert count((64, 15, 15, 32), (3, 3, 32, 64), same) == 2
    assert count((64, 15, 15, 64), (3, 3, 64, 64), valid) == 3
    assert count((128, 13, 13, 32), (3, 3, 32, 64), valid) == 2
    assert count((8, 32, 32, 32), (3, 3, 32, 32), valid) == 1  # one chunk of 8 at most
    assert count((40, 64, 64, 64), (3, 3, 64, 64), same) == 5  # at least 8 examples each
    assert count((512, 64, 64, 64), (3, 3, 64, 64), same) == 8
    assert count((64, 64, 64, 64), (3, 3, 64, 64), valid, (30, 30)) == 1  # 4x4 outputs
    assert count((64, 64, 64, 64), (3, 3, 64, 64), valid, (40, 40)) == 1  # none
    assert count((0, 32, 32, 32), (3, 3, 32, 32), same) == 0
    assert count((64, 4096, 64), (5, 64, 64), ((2, 2),), (1,)) == 8  # 1-D


def _jaxpr_convs(fn, *args):
    return str(jax.make_jaxpr(fn)(*args)).count("conv_general_dilated[")


@pytest.mark.parametrize("chunked", [False, True])
def test_conv_kernel_gradient_chunks_both_modes(chunked, request):
    """The kernel gradient summed over batch chunks equals the whole-batch one (NumPy
    reference), as a K.function of placeholders and on plain arrays, and the chunks are
    really there: two kernel-gradient convolutions instead of one."""
    if chunked:
        request.getfixturevalue("chunk_small_convs")
    x = rand(16, 6, 5, 3, dtype="float32")
    k = rand(3, 2, 3, 4, dtype="float32")
    w = rand(16, 4, 4, 4, dtype="float32")
    # d/dk sum(w * conv(x, k)) by hand: sum over batch and positions of x patches times w
    want = np.zeros_like(k)
    for i in range(3):
        for j in range(2):
            want[i, j] = np.einsum("bhwc,bhwo->co", x[:, i:i + 4, j:j + 4], w)
    loss = lambda x_, k_: jnp.sum(w * K.conv2d(x_, k_))  # noqa: E731
    assert _jaxpr_convs(jax.grad(loss, argnums=1), x, k) == (3 if chunked else 2)
    np.testing.assert_allclose(jax.grad(loss, argnums=1)(x, k), want, rtol=2e-5, atol=2e-5)
    xp = K.placeholder((None, 6, 5, 3))
    kv = K.variable(k)
    grad = K.gradients(K.sum(K.constant(w) * K.conv2d(xp, kv)), [kv])[0]
    np.testing.assert_allclose(K.function([xp], [grad])([x])[0], want, rtol=2e-5, atol=2e-5)


def test_conv_plan_per_platform(monkeypatch):
    """Which formulation a convolution gets on the CPU (channels_last, no groups): a sum
    of 2-D ones in 3-D, patches for one input channel and batch chunks otherwise; lax
    everywhere else."""
    from jkb import conv as C
    monkeypatch.setattr(K.platform, "platform", lambda: "cpu")
    assert C._conv_plan((3, 3, 1, 32), CL, 1) == "patches"
    assert C._conv_plan((3, 3, 3, 32), CL, 1) == "chunked"
    assert C._conv_plan((3, 3, 3, 1, 32), CL, 1) == "depth"
    assert C._conv_plan((3, 3, 3, 1, 32), CF, 1) == "lax"
    assert C._conv_plan((3, 3, 1, 32), CF, 1) == "lax"
    assert C._conv_plan((3, 3, 1, 32), CL, 2) == "lax"
    with K.platform.loop_body():
        assert C._conv_plan((3, 3, 3, 32), CL, 1) == "loop"
    monkeypatch.setattr(K.platform, "platform", lambda: "gpu")
    assert C._conv_plan((3, 3, 1, 32), CL, 1) == "lax"


@pytest.mark.parametrize("mode,order", [("avg", 2), ("max", 1)])
@pytest.mark.parametrize("pool", ["pool2d", "pool3d", "pool2d_blocks", "pool3d_blocks"])
def test_pool_gradients(mode, order, pool):
    # distinct values so that max pooling's gradient is well defined
    if pool.startswith("pool2d"):
        x = RNG.permutation(2 * 5 * 5).reshape(2, 5, 5, 1).astype("float64") / 10
        size = (2, 2) if pool.endswith("blocks") else (2, 3)
        fn = lambda a: K.pool2d(a, size, (2, 2), "same", CL, mode)  # noqa: E731
    else:
        x = RNG.permutation(3 * 4 * 5).reshape(1, 1, 3, 4, 5).astype("float64") / 10
        s = (2, 2, 2) if pool.endswith("blocks") else (1, 2, 2)
        fn = lambda a: K.pool3d(a, (2, 2, 2), s, "same", CF, mode)  # noqa: E731
    modes = ["rev", "fwd"] if pool.endswith("blocks") else ["rev"]
    check_grads(jax.jit(fn), [x], order=2 if pool.endswith("blocks") else order, modes=modes,
                eps=1e-3)


# ----------------------------------------------------------------------------- errors


def test_errors_bad_padding_and_format():
    x, w = rand(1, 5, 5, 2), rand(2, 2, 2, 2)
    for bad in ("SAME", "full", "causal", None):
        with pytest.raises(ValueError, match=r"conv2d: padding must be 'valid' or 'same'"):
            K.conv2d(x, w, padding=bad)
    with pytest.raises(ValueError, match=r"conv1d: padding must be 'valid' or 'same' or "):
        K.conv1d(x[0], w[0], padding="Causal")
    with pytest.raises(ValueError, match="conv1d: padding='causal' needs data_format"):
        K.conv1d(x[0], w[0], padding="causal", data_format=CF)
    with pytest.raises(ValueError, match="pool2d: padding must be"):
        K.pool2d(x, (2, 2), padding="VALID")
    with pytest.raises(ValueError, match="depthwise_conv2d: padding must be"):
        K.depthwise_conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="conv2d_transpose: padding must be"):
        K.conv2d_transpose(x, w, (1, 5, 5, 2), padding="Same")
    with pytest.raises(ValueError, match="conv3d: .*data_format.*'NHWC'"):
        K.conv3d(rand(1, 3, 3, 3, 1), rand(1, 1, 1, 1, 1), data_format="NHWC")
    with pytest.raises(ValueError, match="local_conv1d: .*data_format"):
        K.local_conv1d(x[0], rand(4, 4, 1), (2,), (1,), data_format="tf")
    with pytest.raises(ValueError, match="pool3d: pool_mode must be 'max' or 'avg'.*'min'"):
        K.pool3d(rand(1, 2, 2, 2, 1), (2, 2, 2), pool_mode="min")


def test_errors_shapes_and_dtypes():
    x, w = rand(1, 5, 5, 2), rand(2, 2, 3, 2)
    with pytest.raises(ValueError, match=r"conv2d: the input has 2 channels .*expects 3.*"
                                         r"x.shape=\(1, 5, 5, 2\)"):
        K.conv2d(x, w)
    with pytest.raises(ValueError, match=r"conv2d: the input has 5 channels \(channels_first"):
        K.conv2d(K.placeholder((None, 5, 5, 2)), w, data_format=CF)
    with pytest.raises(ValueError, match=r"conv1d: x must have rank 3.*x.shape=\(1, 5, 5, 2\)"):
        K.conv1d(x, rand(2, 2, 2))
    with pytest.raises(ValueError, match=r"conv3d: kernel must have rank 5"):
        K.conv3d(rand(1, 3, 3, 3, 2), rand(2, 2, 2))
    with pytest.raises(ValueError, match=r"conv2d: strides must be .*strides=\(1, 2, 3\)"):
        K.conv2d(x, rand(2, 2, 2, 2), strides=(1, 2, 3))
    with pytest.raises(ValueError, match=r"pool2d: pool_size must be .*pool_size=\(0, 2\)"):
        K.pool2d(x, (0, 2))
    with pytest.raises(TypeError, match="conv2d: inputs must be floating point.*int32"):
        K.conv2d(x.astype("int32"), rand(2, 2, 2, 2).astype("int32"))
    with pytest.raises(TypeError, match="pool2d: avg pooling is not defined for dtype int32"):
        K.pool2d(x.astype("int32"), (2, 2), pool_mode="avg")
    with pytest.raises(ValueError, match=r"separable_conv2d: pointwise_kernel must have shape "
                                         r"\(1, 1, 4, 'out'\)"):
        K.separable_conv2d(x, rand(2, 2, 2, 2), rand(1, 1, 3, 5))
    with pytest.raises(ValueError, match=r"local_conv2d: kernel must have shape \(4, 8, "):
        K.local_conv2d(rand(1, 3, 3, 2), rand(4, 9, 1), (2, 2), (1, 1), (2, 2))
    with pytest.raises(ValueError, match=r"local_conv2d: output_shape=\(3, 3\).*does not fit"):
        K.local_conv2d(rand(1, 3, 3, 2), rand(9, 8, 1), (2, 2), (1, 1), (3, 3))
    with pytest.raises(ValueError, match=r"local_conv1d: kernel.shape\[1\] must be"):
        K.local_conv1d(rand(1, 5, 2), rand(4, 3, 1), (2,), (1,))


def test_errors_transpose_output_shape():
    x, w = rand(1, 3, 3, 4), rand(3, 3, 2, 4)
    with pytest.raises(ValueError, match=r"conv2d_transpose: output_shape \(1, 6, 6, 2\) is "
                                         r"not a shape .* maps to \(2, 2\)"):
        K.conv2d_transpose(x, w, (1, 6, 6, 2), (2, 2), "valid")
    # the same mismatch found while building a graph
    with pytest.raises(ValueError,
                       match=r"conv2d_transpose: output_shape \(None, 6, 6, 2\) is not"):
        K.conv2d_transpose(K.placeholder((None, 3, 3, 4)), w, (None, 6, 6, 2), (2, 2))
    with pytest.raises(ValueError, match=r"conv2d_transpose: output_shape must have 4 "):
        K.conv2d_transpose(x, w, (7, 7, 2), (2, 2))
    with pytest.raises(ValueError, match=r"output_shape must give every spatial size and 2 "
                                         r"channels"):
        K.conv2d_transpose(x, w, (1, 7, 7, 3), (2, 2))
    with pytest.raises(ValueError, match=r"conv2d_transpose: the input has 4 channels .*"
                                         r"expects 2"):
        K.conv2d_transpose(x, rand(3, 3, 4, 2), (1, 7, 7, 4), (2, 2))
    with pytest.raises(ValueError, match=r"conv3d_transpose: output_shape must be a tuple"):
        K.conv3d_transpose(rand(1, 2, 2, 2, 1), rand(1, 1, 1, 1, 1), 5)
