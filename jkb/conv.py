"""Convolutions (plain, transposed, depthwise, separable, locally connected) and pooling.

Conventions, shared by every op here:

* Kernels always use TF's layout, whatever the data format: spatial dims first, then
  ``(in, out)`` (``(out, in)`` for the transposed convolutions). Convolutions are
  cross-correlations (no kernel flip).
* ``padding='same'`` follows TF: along each spatial dim the total padding is
  ``max((ceil(L / s) - 1) * s + (k - 1) * d + 1 - L, 0)`` and an odd pixel goes at the end.
  Average pooling divides by the number of real (non-padded) cells of each window.
* ``data_format=None`` means ``image_data_format()``, read when the op is applied.
  ``channels_first`` is handled with XLA dimension numbers, without transposes.
* Inputs of different float dtypes are promoted to the wider one (TF refuses mixed dtypes).

Deviations from the TF backend of Keras 2.3.1, all of them supersets:

* ``strides > 1`` combined with ``dilation_rate > 1`` is computed (TF raises).
* ``conv2d_transpose`` accepts unequal dilation rates and honours ``strides`` together with
  dilation (TF's atrous path asserts equal rates and ignores ``strides``).
* The batch entry of a transposed convolution's ``output_shape`` is not used: the batch size
  always comes from ``x`` (TF raises at run time when they differ).
"""

from __future__ import annotations

import functools
import math
import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import config
from . import platform as _platform
from .core import Tensor, asarray, op, operands, static_value

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv2d_transpose", "conv3d_transpose",
    "separable_conv1d", "separable_conv2d", "depthwise_conv2d", "pool2d", "pool3d",
    "local_conv1d", "local_conv2d",
]

_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


# ----------------------------------------------------------------------------- helpers


def _static_shape(x) -> tuple:
    """Static shape of any input, with ``None`` for unknown dims."""
    if isinstance(x, Tensor) or hasattr(x, "shape"):
        return tuple(None if d is None else int(d) for d in x.shape)
    return np.shape(x)


def _static_dtype(x) -> np.dtype:
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype)
    return np.asarray(x).dtype


def _data_format(data_format, opname: str) -> str:
    try:
        return config.normalize_data_format(data_format)
    except ValueError as e:
        raise ValueError(f"{opname}: {e}") from None


def _padding(padding, opname: str, allowed=("valid", "same")) -> str:
    if not isinstance(padding, str) or padding not in allowed:
        names = " or ".join(repr(p) for p in allowed)
        raise ValueError(f"{opname}: padding must be {names}. Received: padding={padding!r}")
    return padding


def _ints(value, n: int, argname: str, opname: str) -> tuple:
    """An int or a sequence of ``n`` ints, as a tuple of ``n`` positive Python ints."""
    value = static_value(value)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = tuple(value.tolist())
    seq = (value,) * n if not isinstance(value, (tuple, list)) else tuple(value)
    try:
        out = tuple(operator.index(static_value(v)) for v in seq)
    except TypeError:
        out = None
    if out is None or len(out) != n or any(v < 1 for v in out):
        raise ValueError(f"{opname}: {argname} must be a positive int or a tuple of {n} "
                         f"positive ints. Received: {argname}={value!r}")
    return out


def _float_dtype(opname: str, *xs) -> np.dtype:
    dt = np.dtype(jnp.result_type(*(_static_dtype(x) for x in xs)))
    if not jnp.issubdtype(dt, jnp.floating):
        dts = ", ".join(_static_dtype(x).name for x in xs)
        raise TypeError(f"{opname}: inputs must be floating point. Received dtypes: {dts}")
    return dt


def _check_rank(shape, rank: int, what: str, opname: str, layout: str) -> None:
    if len(shape) != rank:
        raise ValueError(f"{opname}: {what} must have rank {rank} ({layout}). "
                         f"Received: {what}.shape={shape}")


def _channels(shape, data_format):
    return shape[-1] if data_format == "channels_last" else shape[1]


def _spatial(shape, data_format):
    return tuple(shape[1:-1]) if data_format == "channels_last" else tuple(shape[2:])


def _check_channels(have, want, opname, x_shape, k_shape, data_format, what="kernel"):
    if have is not None and want is not None and have != want:
        raise ValueError(f"{opname}: the input has {have} channels ({data_format}) but the "
                         f"{what} expects {want}. Received: x.shape={x_shape}, "
                         f"{what}.shape={k_shape}")


def _same_pads(sizes, ksizes, strides, dilations):
    """TF's 'same' padding: the odd pixel goes at the end."""
    pads = []
    for n, k, s, d in zip(sizes, ksizes, strides, dilations):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _pads(padding, sizes, ksizes, strides, dilations):
    if padding == "same":
        return _same_pads(sizes, ksizes, strides, dilations)
    if padding == "causal":
        return [((k - 1) * d, 0) for k, d in zip(ksizes, dilations)]
    return [(0, 0)] * len(sizes)


def _jit(*static):
    """Compiles a multi-op body once per shape and static arguments, so eager calls are one
    dispatch; ``inline`` keeps it a plain part of any graph that calls it."""
    return lambda fn: jax.jit(fn, static_argnums=static, inline=True)


def _dims(n: int, data_format: str, rhs: str = "IO"):
    sp = _SPATIAL[n]
    lhs = "N" + sp + "C" if data_format == "channels_last" else "NC" + sp
    return (lhs, sp + rhs, lhs)


# ----------------------------------------------------------------------------- convolutions


@_jit(2, 3, 4, 5, 6, 7, 8)
def _conv_fn(x, kernel, strides, padding, data_format, dilation, groups, dtype, plan):
    """N-d convolution; ``kernel`` is (spatial..., in / groups, out). ``plan`` (see
    ``_conv_plan``) picks the formulation."""
    n = len(strides)
    x = asarray(x, dtype)
    kernel = asarray(kernel, dtype)
    sizes = _spatial(x.shape, data_format)
    pads = tuple(_pads(padding, sizes, kernel.shape[:n], strides, dilation))
    if plan == "lax":
        return lax.conv_general_dilated(
            x, kernel, window_strides=strides, padding=pads, rhs_dilation=dilation,
            dimension_numbers=_dims(n, data_format), feature_group_count=groups)
    if plan == "depth":
        return _conv_by_depth(x, kernel, strides, pads, dilation)
    return _conv_channels_last(x, kernel, strides, pads, dilation, plan)


def _conv_channels_last(x, kernel, strides, pads, dilation, plan):
    """A channels_last convolution computed as ``plan`` ('loop', 'patches' or 'chunked')
    says; 'chunked' falls back to plain XLA when the kernel gradient is too small to split
    (``_chunk_count``), and for strided convolutions (whose kernel gradients ran 5-45%
    slower in chunks)."""
    if plan in ("patches", "loop"):
        return _conv_by_patches(x, kernel, strides, pads, dilation, plan == "loop")
    if all(s == 1 for s in strides):
        chunks = _chunk_count(x.shape, kernel.shape, pads, dilation)
        if chunks > 1:
            return _conv_chunked_dk(x, kernel, strides, pads, dilation, chunks)
    return _conv_nhwc(x, kernel, strides, pads, dilation)


def _conv_by_depth(x, kernel, strides, pads, dilation):
    """A channels_last 3-D convolution as the sum, over the kernel's depth offsets, of 2-D
    convolutions of the (batch * out depth, H, W, in) slabs that each offset reads. XLA CPU
    has no fast kernel for 3-D convolutions; its 2-D ones ran a Conv3D layer's training
    step (forward and both gradients) 4-6x faster this way: see ``_conv_plan``."""
    (lo, hi), sd, dd = pads[0], strides[0], dilation[0]
    xp = lax.pad(x, np.array(0, x.dtype), [(0, 0, 0), (lo, hi, 0)] + [(0, 0, 0)] * 3)
    b, kd = x.shape[0], kernel.shape[0]
    depth = (xp.shape[1] - (kd - 1) * dd - 1) // sd + 1
    if depth <= 0 or b == 0:
        return _conv_nhwc(x, kernel, strides, pads, dilation)
    plan = _plan_by_channels(kernel.shape[-2])
    out = None
    for a in range(kd):
        slab = lax.slice_in_dim(xp, a * dd, a * dd + (depth - 1) * sd + 1, sd, axis=1)
        y = _conv_channels_last(jnp.reshape(slab, (b * depth, *x.shape[2:])), kernel[a],
                                strides[1:], pads[1:], dilation[1:], plan)
        out = y if out is None else out + y
    return jnp.reshape(out, (b, depth, *out.shape[1:]))


# At most this many input channels, on the CPU, a convolution's kernel gradient (and
# forward pass) is computed as a matmul with the input's patches: ``_conv_by_patches``.
# Measured in the benchmark CNNs' training steps: with 1 input channel the patches won
# (13.4 vs 14.5 ms a step), with 3 the chunked convolution did (42.5 vs 44.0 ms).
_PATCHES_MAX_IN = 1


def _conv_plan(kernel_shape, data_format, groups) -> str:
    """How a convolution is computed on the CPU (elsewhere always 'lax'):

    * 'loop' inside a loop body (``K.rnn``, ...): ``_conv_by_patches`` for the forward pass
      and both gradients. In XLA CPU's while loops the gradient convolutions (batch and
      channels swapped, kernel reversed) get no relayout and fall off the Eigen kernels:
      5-15 ms each for a ConvLSTM2D step of 8x20x20x16, about 100x the patches' matmuls.
    * 'patches' with one input channel (the first layer of a CNN of grey images):
      ``_conv_by_patches`` for the forward pass and the kernel gradient. There XLA computes
      the kernel gradient after transposing the output gradient (batch next to channels),
      which took longer than the convolution itself.
    * 'depth' for 3-D convolutions (and, on the CPU, the channels_last
      ``conv3d_transpose``): ``_conv_by_depth``, 2-D convolutions (each planned as below)
      summed over the kernel's depth offsets. XLA CPU's own 3-D convolutions were 4-6x
      slower in a training step (forward 5-25x, a strided one's gradients 50x), e.g. a
      Conv3D(16, 3x3x3) of 8x10x20x20x16: 56 ms against 9.8 ms for the forward pass and
      both gradients.
    * 'chunked' otherwise: ``lax.conv_general_dilated``, with the kernel gradient summed
      over chunks of the batch (``_conv_chunked_dk``) when there is enough work to split
      (``_chunk_count``).
    * 'lax' (on other platforms, for channels_first or grouped convolutions):
      ``lax.conv_general_dilated``.
    Only channels_last convolutions without feature groups take the first four.
    """
    if groups != 1 or data_format != "channels_last" or _platform.platform() != "cpu":
        return "lax"
    if _platform.in_loop_body():
        return "loop"
    if len(kernel_shape) == 5:
        return "depth"
    return _plan_by_channels(kernel_shape[-2])


def _plan_by_channels(cin) -> str:
    return "patches" if cin is not None and cin <= _PATCHES_MAX_IN else "chunked"


# ``_conv_chunked_dk`` splits the batch into about one chunk per _CHUNK_FLOPS of kernel
# gradient work, at most _CHUNKS chunks and at least _CHUNK_MIN examples each. XLA CPU runs
# one kernel-gradient convolution on one thread; separate chunks run side by side, and each
# chunk's transposes of x and dy stay small. Every chunk adds two transposes that XLA
# compiles as kernels of their own (about 13 ms of compile time each), so small
# convolutions are not split. Measured (training steps, one process, interleaved): the
# CIFAR-sized CNN's step (batch 64) as fast in 1/4/2/3 chunks (layers 1-4, this rule) as
# in 4 everywhere, compiled in 0.86 s instead of 0.99 s; the small CNN's (batch 128,
# 2 chunks for its second layer) as fast as in 8, compiled in 0.61 s instead of 0.78 s;
# one chunk for everything: 12% slower CIFAR step.
_CHUNK_MIN, _CHUNK_FLOPS, _CHUNKS = 8, 256e6, 8


def _chunk_count(x_shape, kernel_shape, pads, dilation) -> int:
    """How many batch chunks ``_conv_chunked_dk`` uses for a unit-stride channels_last
    convolution of these static shapes (1: not chunked)."""
    b, n = x_shape[0], len(kernel_shape) - 2
    out = [s + lo + hi - (k - 1) * d
           for s, (lo, hi), k, d in zip(x_shape[1:-1], pads, kernel_shape[:n], dilation)]
    flops = 2.0 * b * math.prod(max(o, 0) for o in out) * math.prod(kernel_shape[:-1]) \
        * kernel_shape[-1]
    return int(min(_CHUNKS, b // _CHUNK_MIN, max(1, round(flops / _CHUNK_FLOPS))))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _conv_chunked_dk(x, kernel, strides, pads, dilation, chunks):
    """A channels_last ``lax.conv_general_dilated`` whose kernel tangent is computed per
    chunk of the batch (``chunks`` of them), so that its transpose, the kernel gradient, is
    a sum of per-chunk gradient convolutions. XLA CPU computes a kernel gradient
    after transposing x and dy (batch next to channels) and runs it on one thread; in
    chunks, the gradients run side by side and the transposes stay small: 0.75-0.92 of
    the whole-batch gradient's time in a training step's context (conv -> bias -> ReLU,
    shapes of the benchmark CNNs)."""
    return _conv_nhwc(x, kernel, strides, pads, dilation)


def _conv_nhwc(x, kernel, strides, pads, dilation):
    return lax.conv_general_dilated(x, kernel, window_strides=strides, padding=pads,
                                    rhs_dilation=dilation,
                                    dimension_numbers=_dims(len(strides), "channels_last"))


def _conv_chunked_dk_jvp(strides, pads, dilation, chunks, primals, tangents):
    (x, kernel), (tx, tk) = primals, tangents
    args = (strides, pads, dilation)
    y = _conv_nhwc(x, kernel, *args)
    t = None
    if type(tk) is not _SymbolicZero:
        b = x.shape[0]
        bounds = [b * i // chunks for i in range(chunks + 1)]
        t = jnp.concatenate([_conv_nhwc(lax.slice_in_dim(x, lo, hi), tk, *args)
                             for lo, hi in zip(bounds[:-1], bounds[1:])])
    if type(tx) is not _SymbolicZero:
        tdx = _conv_nhwc(tx, kernel, *args)
        t = tdx if t is None else t + tdx
    return y, (jnp.zeros_like(y) if t is None else t)


def _im2col(x, ksizes, strides, pads, dilation):
    """(patches (batch * out..., prod(ksizes) * in), out sizes) of a channels_last x; a
    patch is flattened as (kernel offset, channel), the order of a reshaped HWIO kernel."""
    xp = lax.pad(x, np.array(0, x.dtype),
                 [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in pads] + [(0, 0, 0)])
    sp = xp.shape[1:-1]
    outs = [(p - (k - 1) * d - 1) // s + 1 for p, k, d, s in zip(sp, ksizes, dilation, strides)]
    parts = []
    for off in np.ndindex(*ksizes):
        start = [0] + [o * d for o, d in zip(off, dilation)] + [0]
        limit = ([xp.shape[0]] + [o * d + (m - 1) * s + 1
                                  for o, d, m, s in zip(off, dilation, outs, strides)]
                 + [xp.shape[-1]])
        parts.append(lax.slice(xp, start, limit, (1,) + tuple(strides) + (1,)))
    p = jnp.stack(parts, axis=-2)  # (batch, out..., offsets, in)
    return jnp.reshape(p, (-1, p.shape[-2] * p.shape[-1])), outs


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _conv_by_patches(x, kernel, strides, pads, dilation, input_grad_by_patches):
    """A channels_last convolution as ``patches(x) @ kernel``. Its derivative in the kernel
    is ``patches(x)^T @ dy``, a matmul over the batch and positions that needs no transpose
    of dy. Its derivative in x is XLA's (that of ``lax.conv_general_dilated``), or, with
    ``input_grad_by_patches``, ``dy @ kernel^T`` scattered back by the adjoint of the
    patch extraction (pads and adds): then no convolution is left."""
    n = len(strides)
    p, outs = _im2col(x, kernel.shape[:n], strides, pads, dilation)
    y = p @ jnp.reshape(kernel, (-1, kernel.shape[-1]))
    return jnp.reshape(y, (x.shape[0], *outs, kernel.shape[-1]))


def _patches_matmul(x, kernel, strides, pads, dilation, shape):
    n = len(strides)
    p = _im2col(x, kernel.shape[:n], strides, pads, dilation)[0]
    return jnp.reshape(p @ jnp.reshape(kernel, (-1, kernel.shape[-1])), shape)


def _conv_by_patches_jvp(strides, pads, dilation, input_grad_by_patches, primals,
                         tangents):
    x, kernel = primals
    tx, tk = tangents
    n = len(strides)
    p, outs = _im2col(x, kernel.shape[:n], strides, pads, dilation)
    cout = kernel.shape[-1]
    k2 = jnp.reshape(kernel, (-1, cout))
    y = jnp.reshape(p @ k2, (x.shape[0], *outs, cout))
    t = None
    if type(tk) is not _SymbolicZero:
        if input_grad_by_patches:
            # In a loop body, saving the patches for the backward pass would store prod(k)
            # copies of x per step; recomputing them there is cheaper.
            t = jax.checkpoint(_patches_matmul, static_argnums=(2, 3, 4, 5))(
                x, tk, strides, pads, dilation, y.shape)
        else:
            t = jnp.reshape(p @ jnp.reshape(tk, (-1, cout)), y.shape)
    if type(tx) is not _SymbolicZero:
        if input_grad_by_patches:
            tdx = jnp.reshape(_im2col(tx, kernel.shape[:n], strides, pads, dilation)[0] @ k2,
                              y.shape)
        else:
            tdx = lax.conv_general_dilated(tx, kernel, window_strides=strides, padding=pads,
                                           rhs_dilation=dilation,
                                           dimension_numbers=_dims(n, "channels_last"))
        t = tdx if t is None else t + tdx
    return y, (jnp.zeros_like(y) if t is None else t)


_SymbolicZero = jax.custom_derivatives.SymbolicZero
_conv_by_patches.defjvp(_conv_by_patches_jvp, symbolic_zeros=True)
_conv_chunked_dk.defjvp(_conv_chunked_dk_jvp, symbolic_zeros=True)


def _conv_merge(x, kernel, strides, padding, data_format, dilation, groups, dtype, plan):
    """Convolutions of one input with kernels of one shape but the output channels are one
    convolution with the kernels side by side (not so with feature groups)."""
    if groups != 1:
        return None
    return -1 if data_format == "channels_last" else 1


_conv1d = op(_conv_fn, name="conv1d", merge=_conv_merge)
_conv2d = op(_conv_fn, name="conv2d", merge=_conv_merge)
_conv3d = op(_conv_fn, name="conv3d", merge=_conv_merge)


def _conv_args(opname, n, data_format, padding, strides, dilation_rate,
               paddings=("valid", "same")):
    """The validated (data_format, padding, strides, dilation) shared by the conv ops."""
    return (_data_format(data_format, opname), _padding(padding, opname, paddings),
            _ints(strides, n, "strides", opname),
            _ints(dilation_rate, n, "dilation_rate", opname))


def _conv(lifted, opname, n, x, kernel, strides, padding, data_format, dilation_rate,
          paddings=("valid", "same")):
    data_format, padding, strides, dilation = _conv_args(
        opname, n, data_format, padding, strides, dilation_rate, paddings)
    if padding == "causal" and data_format != "channels_last":
        raise ValueError(f"{opname}: padding='causal' needs data_format='channels_last' "
                         f"(temporal data). Received: data_format={data_format!r}")
    xs, ks = _static_shape(x), _static_shape(kernel)
    _check_rank(xs, n + 2, "x", opname, "batch, spatial..., channels")
    _check_rank(ks, n + 2, "kernel", opname, "spatial..., in, out")
    _check_channels(_channels(xs, data_format), ks[-2], opname, xs, ks, data_format)
    dtype = _float_dtype(opname, x, kernel)
    return lifted(x, kernel, strides, padding, data_format, dilation, 1, dtype,
                  _conv_plan(ks, data_format, 1))


@operands("x", "kernel")
def conv1d(x, kernel, strides=1, padding='valid', data_format=None, dilation_rate=1):
    """1-D cross-correlation of x (batch, steps, in) with kernel (k, in, out).

    ``padding`` is 'valid', 'same' or 'causal' (left-pads ``dilation_rate * (k - 1)`` zeros,
    so output step t only sees input steps <= t; channels_last only).
    """
    return _conv(_conv1d, "conv1d", 1, x, kernel, strides, padding, data_format,
                 dilation_rate, ("valid", "same", "causal"))


@operands("x", "kernel")
def conv2d(x, kernel, strides=(1, 1), padding='valid', data_format=None,
           dilation_rate=(1, 1)):
    """2-D cross-correlation of x with kernel (kh, kw, in, out) in either data format."""
    return _conv(_conv2d, "conv2d", 2, x, kernel, strides, padding, data_format,
                 dilation_rate)


@operands("x", "kernel")
def conv3d(x, kernel, strides=(1, 1, 1), padding='valid', data_format=None,
           dilation_rate=(1, 1, 1)):
    """3-D cross-correlation of x with kernel (kd, kh, kw, in, out) in either data format."""
    return _conv(_conv3d, "conv3d", 3, x, kernel, strides, padding, data_format,
                 dilation_rate)


# ----------------------------------------------------------------------------- transposed


def _shape_entry(v, opname):
    if v is None:
        return None
    try:
        return int(np.asarray(v))
    except Exception:  # a tracer: the output shape must be known when tracing
        raise ValueError(f"{opname}: output_shape must be static (ints, None or values "
                         f"derived from K.shape). Received entry: {v!r}") from None


def _conv_transpose_fn(x, kernel, output_shape, strides, padding, data_format, dilation,
                       dtype, opname):
    """The adjoint of ``_conv_fn`` with kernel (spatial..., out, in), as a direct conv."""
    n = len(strides)
    if hasattr(output_shape, "shape") and np.ndim(output_shape) == 1:
        output_shape = list(np.asarray(output_shape))
    out = [_shape_entry(v, opname) for v in output_shape]
    if len(out) != n + 2:
        raise ValueError(f"{opname}: output_shape must have {n + 2} entries (batch included)."
                         f" Received: output_shape={tuple(out)}")
    out_sizes, out_ch = _spatial(out, data_format), _channels(out, data_format)
    ksizes, k_out = tuple(kernel.shape[:n]), kernel.shape[n]
    if None in out_sizes or (out_ch is not None and out_ch != k_out):
        raise ValueError(f"{opname}: output_shape must give every spatial size and "
                         f"{k_out} channels (kernel.shape[{n}]) in {data_format} order. "
                         f"Received: output_shape={tuple(out)}, kernel.shape={kernel.shape}")
    pads = _pads(padding, out_sizes, ksizes, strides, dilation)
    eff = [(k - 1) * d + 1 for k, d in zip(ksizes, dilation)]
    fwd = [(o + lo + hi - e) // s + 1
           for o, (lo, hi), e, s in zip(out_sizes, pads, eff, strides)]
    if tuple(fwd) != _spatial(x.shape, data_format):
        raise ValueError(
            f"{opname}: output_shape {tuple(out)} is not a shape that the forward convolution "
            f"(strides={strides}, padding={padding!r}, dilation_rate={dilation}) maps to the "
            f"input's spatial shape; it maps to {tuple(fwd)}. Received: x.shape={x.shape}, "
            f"kernel.shape={kernel.shape}")
    return _conv_transpose_core(x, kernel, out_sizes, strides, tuple(pads), data_format,
                                dilation, dtype, _platform.platform() == "cpu")


@_jit(2, 3, 4, 5, 6, 7, 8)
def _conv_transpose_core(x, kernel, out_sizes, strides, pads, data_format, dilation, dtype,
                         split):
    n = len(strides)
    x = asarray(x, dtype)
    kernel = asarray(kernel, dtype)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:n], dilation)]
    fwd = _spatial(x.shape, data_format)
    # Spread x by the strides, pad so that every output cell sees the kernel cells that
    # the forward conv had it feed, and correlate with the flipped kernel.
    tpads = tuple((e - 1 - lo, o - (m - 1) * s - 1 + lo)
                  for e, (lo, _), o, m, s in zip(eff, pads, out_sizes, fwd, strides))
    flipped = jnp.flip(kernel, axis=tuple(range(n)))
    if split and n == 3 and data_format == "channels_last":
        xp = lax.pad(x, np.array(0, x.dtype),
                     [(0, 0, 0)] + [(lo, hi, s - 1) for (lo, hi), s in zip(tpads, strides)]
                     + [(0, 0, 0)])
        return _conv_by_depth(xp, jnp.swapaxes(flipped, -1, -2), (1,) * n, ((0, 0),) * n,
                              dilation)
    if split and any(s > 1 for s in strides):
        return _spread_conv(x, flipped, strides, tpads, dilation, data_format)
    return _spread_conv_dilated(x, flipped, strides, tpads, dilation, data_format)


def _spread_conv_dilated(x, flipped, strides, tpads, dilation, data_format):
    """x spread by ``lhs_dilation``, correlated with the flipped (spatial..., out, in)
    kernel."""
    n = len(strides)
    return lax.conv_general_dilated(
        x, flipped, window_strides=(1,) * n, padding=tpads, lhs_dilation=strides,
        rhs_dilation=dilation, dimension_numbers=_dims(n, data_format, rhs="OI"))


def _spread_conv_padded(x, flipped, strides, tpads, dilation, data_format):
    """The same, x spread by an explicit interior padding of zeros."""
    n = len(strides)
    first = 1 if data_format == "channels_last" else 2
    cfg = [(0, 0, 0)] * x.ndim
    for i, ((lo, hi), s) in enumerate(zip(tpads, strides)):
        cfg[first + i] = (lo, hi, s - 1)
    xp = lax.pad(x, np.array(0, x.dtype), cfg)
    return lax.conv_general_dilated(
        xp, flipped, window_strides=(1,) * n, padding=[(0, 0)] * n, rhs_dilation=dilation,
        dimension_numbers=_dims(n, data_format, rhs="OI"))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _spread_conv(x, flipped, strides, tpads, dilation, data_format):
    """A strided transposed convolution whose derivatives take the fast form of each:

    XLA CPU's gradient in the kernel of an ``lhs_dilation`` convolution ran 10-15x slower
    than that of the same convolution of an explicitly spread (zero-padded) input, while
    its gradient in x (a strided convolution) ran 4x faster than the padded form's (which
    computes the full-resolution result, then drops most of it). So the tangent in x
    goes through ``_spread_conv_dilated`` and the tangent in the kernel through
    ``_spread_conv_padded``.
    """
    return _spread_conv_dilated(x, flipped, strides, tpads, dilation, data_format)


def _bilinear_jvp(product, in_kernel):
    """The jvp rule of a product bilinear in ``(x, kernel)`` computed by ``product``, whose
    tangent in the kernel is computed by ``in_kernel`` (the same product, formulated for
    that derivative). Both are called as ``f(x, kernel, *nondiff_args)``."""
    def jvp(*args):
        *static, (x, kernel), (tx, tk) = args
        y = product(x, kernel, *static)
        t = None
        if type(tk) is not _SymbolicZero:
            t = in_kernel(x, tk, *static)
        if type(tx) is not _SymbolicZero:
            tdx = product(tx, kernel, *static)
            t = tdx if t is None else t + tdx
        return y, (jnp.zeros_like(y) if t is None else t)
    return jvp


_spread_conv.defjvp(_bilinear_jvp(_spread_conv_dilated, _spread_conv_padded),
                    symbolic_zeros=True)


_conv2d_transpose = op(_conv_transpose_fn, name="conv2d_transpose")
_conv3d_transpose = op(_conv_transpose_fn, name="conv3d_transpose")


def _normalize_output_shape(output_shape, opname):
    if isinstance(output_shape, Tensor):
        return output_shape
    if hasattr(output_shape, "shape") and not isinstance(output_shape, (tuple, list)):
        return tuple(_shape_entry(v, opname) for v in np.asarray(output_shape).reshape(-1))
    if not isinstance(output_shape, (tuple, list)):
        raise ValueError(f"{opname}: output_shape must be a tuple (batch included). "
                         f"Received: output_shape={output_shape!r}")
    # Static entries become plain ints here so that none of them becomes a runtime argument.
    return tuple(v if v is None or isinstance(v, Tensor) else _shape_entry(v, opname)
                 for v in output_shape)


def _conv_transpose(lifted, opname, n, x, kernel, output_shape, strides, padding,
                    data_format, dilation_rate):
    data_format, padding, strides, dilation = _conv_args(
        opname, n, data_format, padding, strides, dilation_rate)
    xs, ks = _static_shape(x), _static_shape(kernel)
    _check_rank(xs, n + 2, "x", opname, "batch, spatial..., channels")
    _check_rank(ks, n + 2, "kernel", opname, "spatial..., out, in")
    _check_channels(_channels(xs, data_format), ks[-1], opname, xs, ks, data_format)
    dtype = _float_dtype(opname, x, kernel)
    output_shape = _normalize_output_shape(output_shape, opname)
    return lifted(x, kernel, output_shape, strides, padding, data_format, dilation, dtype,
                  opname)


@operands("x", "kernel")
def conv2d_transpose(x, kernel, output_shape, strides=(1, 1), padding='valid',
                     data_format=None, dilation_rate=(1, 1)):
    """Transposed 2-D convolution: the gradient of ``conv2d`` with respect to its input.

    kernel is (kh, kw, out, in). ``output_shape`` is the full 4-tuple in ``data_format``
    order (entries may be None for the batch, or values from ``K.shape``); ``conv2d`` with
    the same arguments must map that shape back to x's spatial shape.
    """
    return _conv_transpose(_conv2d_transpose, "conv2d_transpose", 2, x, kernel, output_shape,
                           strides, padding, data_format, dilation_rate)


@operands("x", "kernel")
def conv3d_transpose(x, kernel, output_shape, strides=(1, 1, 1), padding='valid',
                     data_format=None):
    """Transposed 3-D convolution; kernel (kd, kh, kw, out, in), output_shape a 5-tuple."""
    return _conv_transpose(_conv3d_transpose, "conv3d_transpose", 3, x, kernel, output_shape,
                           strides, padding, data_format, 1)


# ----------------------------------------------------------------------------- depthwise


@_jit(3, 4, 5, 6, 7, 8)
def _depthwise_fn(x, depthwise_kernel, pointwise_kernel, strides, padding, data_format,
                  dilation, dtype, by_shifts):
    n = len(strides)
    c, dm = depthwise_kernel.shape[n:]
    if by_shifts:
        x = asarray(x, dtype)
        pads = _pads(padding, _spatial(x.shape, data_format), depthwise_kernel.shape[:n],
                     strides, dilation)
        y = _depthwise_cpu(x, asarray(depthwise_kernel, dtype), strides, tuple(pads),
                           dilation, data_format)
    else:
        # (spatial..., in, dm) -> (spatial..., 1, in * dm): output channel c * dm + m, as
        # in TF.
        k = jnp.reshape(depthwise_kernel, depthwise_kernel.shape[:n] + (1, c * dm))
        y = _conv_fn(x, k, strides, padding, data_format, dilation, c, dtype, "lax")
    if pointwise_kernel is not None:
        y = _conv_fn(y, pointwise_kernel, (1,) * n, "valid", data_format, (1,) * n, 1, dtype,
                     "lax")
    return y


def _depthwise_lax(x, kernel, strides, pads, dilation, data_format):
    n = len(strides)
    c, dm = kernel.shape[n:]
    # (spatial..., in, dm) -> (spatial..., 1, in * dm): output channel c * dm + m, as in TF.
    k = jnp.reshape(kernel, kernel.shape[:n] + (1, c * dm))
    return lax.conv_general_dilated(
        x, k, window_strides=strides, padding=pads, rhs_dilation=dilation,
        dimension_numbers=_dims(n, data_format), feature_group_count=c)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _depthwise_cpu(x, kernel, strides, pads, dilation, data_format):
    """The depthwise convolution of the CPU: by shifts (``_depthwise_by_shifts``) for the
    forward pass and the input gradient (10-100x faster there than XLA CPU's grouped
    convolution); the kernel gradient is the grouped convolution's, which was faster
    than the shifts' (a column reduction) for most shapes measured."""
    return _depthwise_by_shifts(x, kernel, strides, pads, dilation, data_format)


# (a lambda: _depthwise_by_shifts is defined below)
_depthwise_cpu.defjvp(_bilinear_jvp(lambda *a: _depthwise_by_shifts(*a), _depthwise_lax),
                      symbolic_zeros=True)


def _depthwise_by_shifts(x, kernel, strides, pads, dilation, data_format):
    """A depthwise convolution as a sum over kernel offsets of (strided) shifted copies of x
    times that offset's per-channel weights: elementwise work that XLA fuses into one
    loop."""
    n = len(strides)
    c, dm = kernel.shape[n:]
    first = 1 if data_format == "channels_last" else 2
    cfg = [(0, 0, 0)] * x.ndim
    for i, (lo, hi) in enumerate(pads):
        cfg[first + i] = (lo, hi, 0)
    xp = lax.pad(x, np.array(0, x.dtype), cfg)
    sp = xp.shape[first:first + n]
    outs = [(p - (k - 1) * d - 1) // s + 1
            for p, k, d, s in zip(sp, kernel.shape[:n], dilation, strides)]
    if data_format == "channels_last":  # x (b, sp..., c, 1) * w (c, dm)
        xp = xp[..., None]
    else:  # x (b, c, 1, sp...) * w (c, dm, 1...)
        xp = jnp.expand_dims(xp, 2)
    y = None
    for off in np.ndindex(*kernel.shape[:n]):
        start, limit, step = [0] * xp.ndim, list(xp.shape), [1] * xp.ndim
        for i, (o, d, m, s) in enumerate(zip(off, dilation, outs, strides)):
            a = first + i + (0 if data_format == "channels_last" else 1)
            start[a], limit[a], step[a] = o * d, o * d + (m - 1) * s + 1, s
        w = kernel[off]  # (c, dm)
        if data_format != "channels_first":
            term = lax.slice(xp, start, limit, step) * w
        else:
            term = lax.slice(xp, start, limit, step) * w.reshape((c, dm) + (1,) * n)
        y = term if y is None else y + term
    shape = list(y.shape)
    if data_format == "channels_last":
        return jnp.reshape(y, shape[:-2] + [c * dm])
    return jnp.reshape(y, [shape[0], c * dm] + shape[3:])


_depthwise_conv2d = op(_depthwise_fn, name="depthwise_conv2d")
_separable_conv1d = op(_depthwise_fn, name="separable_conv1d")
_separable_conv2d = op(_depthwise_fn, name="separable_conv2d")


def _depthwise(lifted, opname, n, x, depthwise_kernel, pointwise_kernel, strides, padding,
               data_format, dilation_rate):
    data_format, padding, strides, dilation = _conv_args(
        opname, n, data_format, padding, strides, dilation_rate)
    xs, ds = _static_shape(x), _static_shape(depthwise_kernel)
    _check_rank(xs, n + 2, "x", opname, "batch, spatial..., channels")
    _check_rank(ds, n + 2, "depthwise_kernel", opname, "spatial..., in, depth_multiplier")
    _check_channels(_channels(xs, data_format), ds[-2], opname, xs, ds, data_format,
                    "depthwise_kernel")
    kernels = (x, depthwise_kernel)
    if pointwise_kernel is not None:
        ps = _static_shape(pointwise_kernel)
        _check_rank(ps, n + 2, "pointwise_kernel", opname, "1..., in * depth_multiplier, out")
        want = ds[-2] * ds[-1] if None not in ds[-2:] else None
        if any(k != 1 for k in ps[:n]) or (want is not None and ps[-2] not in (None, want)):
            raise ValueError(f"{opname}: pointwise_kernel must have shape "
                             f"{(1,) * n + (want, 'out')}. Received: "
                             f"depthwise_kernel.shape={ds}, pointwise_kernel.shape={ps}")
        kernels += (pointwise_kernel,)
    dtype = _float_dtype(opname, *kernels)
    return lifted(x, depthwise_kernel, pointwise_kernel, strides, padding, data_format,
                  dilation, dtype, _platform.platform() == "cpu")


@operands("x", "depthwise_kernel")
def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding='valid', data_format=None,
                     dilation_rate=(1, 1)):
    """Convolves each input channel with its own ``dm`` filters (kernel (kh, kw, in, dm)).

    The result has ``in * dm`` channels; input channel c, filter m -> channel ``c * dm + m``.
    """
    return _depthwise(_depthwise_conv2d, "depthwise_conv2d", 2, x, depthwise_kernel, None,
                      strides, padding, data_format, dilation_rate)


@operands("x", "depthwise_kernel", "pointwise_kernel")
def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides=1, padding='valid',
                     data_format=None, dilation_rate=1):
    """Depthwise 1-D conv (kernel (k, in, dm)) then a pointwise one (kernel (1, in*dm, out)).

    ``strides`` and ``dilation_rate`` apply to the depthwise step.
    """
    return _depthwise(_separable_conv1d, "separable_conv1d", 1, x, depthwise_kernel,
                      pointwise_kernel, strides, padding, data_format, dilation_rate)


@operands("x", "depthwise_kernel", "pointwise_kernel")
def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding='valid',
                     data_format=None, dilation_rate=(1, 1)):
    """Depthwise 2-D conv (kernel (kh, kw, in, dm)) then a 1x1 conv (kernel (1, 1, in*dm, out)).

    ``strides`` and ``dilation_rate`` apply to the depthwise step.
    """
    return _depthwise(_separable_conv2d, "separable_conv2d", 2, x, depthwise_kernel,
                      pointwise_kernel, strides, padding, data_format, dilation_rate)


# ----------------------------------------------------------------------------- pooling


def _window_counts(size, k, s, pads, out):
    """How many real cells each output window covers along one dim."""
    starts = np.arange(out) * s - pads[0]
    return np.minimum(starts + k, size) - np.maximum(starts, 0)


def _pool_by_blocks(pool_size, strides) -> bool:
    """Whether pooling is computed on blocks (``_block_pool``) rather than with
    ``lax.reduce_window``: for non-overlapping windows (``strides >= pool_size``) on the
    CPU. There the gradient of ``reduce_window`` max is ``select_and_scatter``, which XLA
    CPU runs as a serial scatter: 10-25x slower than the blocks' gradient for Keras-sized
    max-pool layers (1.3-1.8x for average pooling). Other platforms keep ``reduce_window``
    (not measured there)."""
    return all(s >= k for k, s in zip(pool_size, strides)) and _platform.platform() == "cpu"


def _window_parts(xr, inner):
    """The slices of ``xr`` at each offset of its window axes ``inner`` (row-major order),
    with those axes removed."""
    parts = []
    for offset in np.ndindex(*(xr.shape[a] for a in inner)):
        start, limit = [0] * xr.ndim, list(xr.shape)
        for a, o in zip(inner, offset):
            start[a], limit[a] = o, o + 1
        parts.append(lax.squeeze(lax.slice(xr, start, limit), inner))
    return parts


def _tree(fn, parts):
    while len(parts) > 1:
        parts = [fn(a, b) for a, b in zip(parts[::2], parts[1::2])] + (
            [parts[-1]] if len(parts) % 2 else [])
    return parts[0]


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _block_reduce(xr, inner, mode):
    """Max or sum of ``xr`` over its window axes ``inner``, computed from strided slices
    (fast on XLA CPU). Derivatives: the sum's is a broadcast; the max's follows, in each
    window, the first cell (row-major window order) that holds the maximum, as TF does."""
    return _tree(lax.max if mode == "max" else lax.add, _window_parts(xr, inner))


@_block_reduce.defjvp
def _block_reduce_jvp(inner, mode, primals, tangents):
    (xr,), (tr,) = primals, tangents
    parts = _window_parts(xr, inner)
    if mode != "max":
        return _tree(lax.add, parts), jnp.sum(tr, axis=inner)
    m = _tree(lax.max, parts)
    masks, taken = [], None
    for p in parts:
        hit = p == m
        masks.append(hit if taken is None else hit & ~taken)
        taken = hit if taken is None else taken | hit
    sizes = tuple(xr.shape[a] for a in inner)
    mask = jnp.stack(masks).reshape(sizes + m.shape)
    outer = iter(range(len(inner), len(inner) + m.ndim))
    mask = jnp.transpose(mask, [inner.index(d) if d in inner else next(outer)
                                for d in range(xr.ndim)])
    # The tangent as a masked sum over the window axes: in reverse mode that becomes a
    # broadcast and a select into xr's layout, one cheap pass (slices would give pads).
    return m, jnp.sum(jnp.where(mask, tr, jnp.zeros_like(tr)), axis=inner)


def _block_pool(x, init, axes, pool_size, strides, pads, outs, mode):
    """Pooling of non-overlapping windows: x is padded (with ``init``) or cropped to
    exactly ``out * stride`` cells per spatial axis, each axis split into (out, stride),
    the stride axis cut to the window, and the window axes reduced."""
    cfg = [(0, 0, 0)] * x.ndim
    for a, (lo, _), m, s in zip(axes, pads, outs, strides):
        cfg[a] = (lo, m * s - x.shape[a] - lo, 0)  # a negative high pad crops
    xp = lax.pad(x, init, cfg)
    shape, inner, window = [], [], []
    steps = dict(zip(axes, zip(outs, strides, pool_size)))
    for d, size in enumerate(xp.shape):
        if d in steps:
            m, s, k = steps[d]
            shape += [m, s]
            inner.append(len(shape) - 1)
            window += [m, k]
        else:
            shape.append(size)
            window.append(size)
    xr = jnp.reshape(xp, shape)
    if tuple(window) != xr.shape:  # strides > pool_size: keep the first k of each block
        xr = lax.slice(xr, [0] * xr.ndim, window)
    return _block_reduce(xr, tuple(inner), mode)


@_jit(1, 2, 3, 4, 5, 6)
def _pool_fn(x, pool_size, strides, padding, data_format, pool_mode, by_blocks):
    n = len(pool_size)
    x = asarray(x)
    first = 1 if data_format == "channels_last" else 2
    axes = range(first, first + n)
    sizes = _spatial(x.shape, data_format)
    pads = _pads(padding, sizes, pool_size, strides, (1,) * n)
    window, steps, padding_cfg = [1] * x.ndim, [1] * x.ndim, [(0, 0)] * x.ndim
    for a, k, s, p in zip(axes, pool_size, strides, pads):
        window[a], steps[a], padding_cfg[a] = k, s, p
    if pool_mode == "max":
        # The identity of max, so padded cells never win (and XLA's max-pool path is used).
        if jnp.issubdtype(x.dtype, jnp.floating):
            init = np.array(-np.inf, x.dtype)
        else:
            init = np.array(jnp.iinfo(x.dtype).min, x.dtype)
    else:
        init = np.array(0, x.dtype)
    if by_blocks:
        outs = [(size + lo + hi - k) // s + 1
                for size, (lo, hi), k, s in zip(sizes, pads, pool_size, strides)]
        total = _block_pool(x, init, list(axes), pool_size, strides, pads, outs, pool_mode)
        if pool_mode == "max":
            return total
    elif pool_mode == "max":
        return lax.reduce_window(x, init, lax.max, window, steps, padding_cfg)
    else:
        total = lax.reduce_window(x, init, lax.add, window, steps, padding_cfg)
    count = np.ones((1,) * x.ndim, np.int64)
    for a, size, k, s, p in zip(axes, sizes, pool_size, strides, pads):
        c = _window_counts(size, k, s, p, total.shape[a])
        count = count * c.reshape([-1 if i == a else 1 for i in range(x.ndim)])
    return total / count.astype(x.dtype)


_pool2d = op(_pool_fn, name="pool2d")
_pool3d = op(_pool_fn, name="pool3d")


def _pool(lifted, opname, n, x, pool_size, strides, padding, data_format, pool_mode):
    data_format = _data_format(data_format, opname)
    padding = _padding(padding, opname)
    pool_size = _ints(pool_size, n, "pool_size", opname)
    strides = _ints(strides, n, "strides", opname)
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"{opname}: pool_mode must be 'max' or 'avg'. "
                         f"Received: pool_mode={pool_mode!r}")
    xs = _static_shape(x)
    _check_rank(xs, n + 2, "x", opname, "batch, spatial..., channels")
    dt = _static_dtype(x)
    ok = jnp.issubdtype(dt, jnp.floating) or (
        pool_mode == "max" and jnp.issubdtype(dt, jnp.integer))
    if not ok:
        raise TypeError(f"{opname}: {pool_mode} pooling is not defined for dtype {dt.name}. "
                        f"Received: x.shape={xs}, x.dtype={dt.name}")
    return lifted(x, pool_size, strides, padding, data_format, pool_mode,
                  _pool_by_blocks(pool_size, strides))


@operands("x")
def pool2d(x, pool_size, strides=(1, 1), padding='valid', data_format=None, pool_mode='max'):
    """2-D max or average pooling; 'same' averages count only real (non-padded) cells.

    Max pooling pads 'same' windows with -inf (the integer minimum for integers), so padded
    cells never win. Its gradient goes, in each window, to the first cell holding the
    maximum (row-major window order), as TF's does; the other tied cells get nothing. On the
    CPU, windows that do not overlap (``strides >= pool_size``, the common case) are
    reduced from strided slices of the input split into blocks, instead of with
    ``lax.reduce_window``, whose gradient XLA CPU runs as a slow serial scatter (same values
    and gradients; forward- and reverse-mode derivatives of any order).
    """
    return _pool(_pool2d, "pool2d", 2, x, pool_size, strides, padding, data_format, pool_mode)


@operands("x")
def pool3d(x, pool_size, strides=(1, 1, 1), padding='valid', data_format=None,
           pool_mode='max'):
    """3-D max or average pooling; as ``pool2d`` (padding, tie rule, CPU formulation)."""
    return _pool(_pool3d, "pool3d", 3, x, pool_size, strides, padding, data_format, pool_mode)


# ----------------------------------------------------------------------------- unshared


def _patches(x, count, stride, k, axis):
    """x with ``axis`` replaced by (count, k): ``count`` windows of size k, ``stride`` apart."""
    # k strided slices rather than a gather: cheaper, and their gradient is a pad, not a
    # scatter.
    return jnp.stack([lax.slice_in_dim(x, o, o + (count - 1) * stride + 1, stride, axis)
                      for o in range(k)], axis=axis + 1)


@op(name="local_conv1d")
@_jit(2, 3, 4, 5)
def _local_conv1d(inputs, kernel, kernel_size, stride, data_format, dtype):
    length = kernel.shape[0]
    x = asarray(inputs, dtype)
    if data_format == "channels_first":
        p = _patches(x, length, stride, kernel_size, 2)   # (b, in, L, k)
        p = jnp.transpose(p, (0, 2, 1, 3))                  # (b, L, in, k)
    else:
        p = _patches(x, length, stride, kernel_size, 1)   # (b, L, k, in)
    p = jnp.reshape(p, p.shape[:2] + (-1,))  # (batch, L, k * in), in memory order
    y = jnp.einsum("blf,lfo->blo", p, asarray(kernel, dtype))
    return jnp.transpose(y, (0, 2, 1)) if data_format == "channels_first" else y


def _local_dtype(opname: str, *xs) -> np.dtype:
    """The common dtype of a locally connected op: any numeric one (TF builds these ops
    from matmul, which takes integers), not bool."""
    dt = np.dtype(jnp.result_type(*(_static_dtype(x) for x in xs)))
    if dt.kind not in "iuf":
        dts = ", ".join(_static_dtype(x).name for x in xs)
        raise TypeError(f"{opname}: inputs must be numbers. Received dtypes: {dts}")
    return dt


@operands("inputs", "kernel")
def local_conv1d(inputs, kernel, kernel_size, strides, data_format=None):
    """1-D convolution with one kernel per output position (valid padding).

    inputs (batch, steps, in) for channels_last, (batch, in, steps) for
    ``data_format='channels_first'``; kernel (output_length, k * in, filters), each patch
    flattened in the data format's memory order: (k, in) for channels_last, (in, k) for
    channels_first (as ``local_conv2d`` does). Result (batch, output_length, filters) or
    (batch, filters, output_length).

    ``data_format=None`` means channels_last, not ``image_data_format()``: Keras 2.3.1's
    ``LocallyConnected1D`` calls this op without a data format and always feeds
    channels_last data (Keras 2.3.1's own backends ignored the argument altogether).
    """
    opname = "local_conv1d"
    fmt = "channels_last" if data_format is None else _data_format(data_format, opname)
    (k,) = _ints(kernel_size, 1, "kernel_size", opname)
    (s,) = _ints(strides, 1, "strides", opname)
    xs, ks = _static_shape(inputs), _static_shape(kernel)
    layout = "batch, channels, steps" if fmt == "channels_first" else "batch, steps, channels"
    _check_rank(xs, 3, "inputs", opname, layout)
    _check_rank(ks, 3, "kernel", opname, "output_length, kernel_size * in, filters")
    if None in ks[:2]:
        raise ValueError(f"{opname}: the kernel shape must be known. Received: "
                         f"kernel.shape={ks}")
    length, feat = ks[:2]
    channels, steps = (xs[1], xs[2]) if fmt == "channels_first" else (xs[2], xs[1])
    if channels is not None and feat != k * channels:
        raise ValueError(f"{opname}: kernel.shape[1] must be kernel_size * channels = "
                         f"{k * channels}. Received: inputs.shape={xs} ({fmt}), "
                         f"kernel.shape={ks}")
    if steps is not None and (length - 1) * s + k > steps:
        raise ValueError(f"{opname}: {length} windows of size {k} with stride {s} do not fit "
                         f"in {steps} steps. Received: inputs.shape={xs} ({fmt}), "
                         f"kernel.shape={ks}")
    return _local_conv1d(inputs, kernel, k, s, fmt, _local_dtype(opname, inputs, kernel))


@op(name="local_conv2d")
@_jit(2, 3, 4, 5, 6)
def _local_conv2d(inputs, kernel, kernel_size, strides, output_shape, data_format, dtype):
    (kh, kw), (sh, sw), (rows, cols) = kernel_size, strides, output_shape
    x = asarray(inputs, dtype)
    if data_format == "channels_first":
        p = _patches(x, rows, sh, kh, 2)       # (b, in, R, kh, W)
        p = _patches(p, cols, sw, kw, 4)       # (b, in, R, kh, C, kw)
        p = jnp.transpose(p, (0, 2, 4, 1, 3, 5))  # (b, R, C, in, kh, kw)
    else:
        p = _patches(x, rows, sh, kh, 1)       # (b, R, kh, W, in)
        p = _patches(p, cols, sw, kw, 3)       # (b, R, kh, C, kw, in)
        p = jnp.transpose(p, (0, 1, 3, 2, 4, 5))  # (b, R, C, kh, kw, in)
    p = jnp.reshape(p, (p.shape[0], rows * cols, -1))
    y = jnp.einsum("bpf,pfo->bpo", p, asarray(kernel, dtype))
    y = jnp.reshape(y, (y.shape[0], rows, cols, -1))
    return jnp.transpose(y, (0, 3, 1, 2)) if data_format == "channels_first" else y


@operands("inputs", "kernel")
def local_conv2d(inputs, kernel, kernel_size, strides, output_shape, data_format=None):
    """2-D convolution with one kernel per output position (valid padding).

    kernel (rows * cols, kh * kw * in, filters) with ``output_shape = (rows, cols)``. Each
    patch is flattened in the data format's memory order: (kh, kw, in) for channels_last,
    (in, kh, kw) for channels_first. Result (batch, rows, cols, filters) or
    (batch, filters, rows, cols).
    """
    opname = "local_conv2d"
    data_format = _data_format(data_format, opname)
    kernel_size = _ints(kernel_size, 2, "kernel_size", opname)
    strides = _ints(strides, 2, "strides", opname)
    out = _ints(output_shape, 2, "output_shape", opname)
    xs, ks = _static_shape(inputs), _static_shape(kernel)
    _check_rank(xs, 4, "inputs", opname, "batch, rows, cols, channels")
    _check_rank(ks, 3, "kernel", opname, "rows * cols, kh * kw * in, filters")
    ch, (h, w) = _channels(xs, data_format), _spatial(xs, data_format)
    want = (out[0] * out[1], None if ch is None else kernel_size[0] * kernel_size[1] * ch)
    if ks[0] != want[0] or (want[1] is not None and ks[1] != want[1]):
        raise ValueError(f"{opname}: kernel must have shape {want + ('filters',)} for "
                         f"output_shape={out}, kernel_size={kernel_size}. Received: "
                         f"inputs.shape={xs}, kernel.shape={ks}")
    for size, o, k, s in zip((h, w), out, kernel_size, strides):
        if size is not None and (o - 1) * s + k > size:
            raise ValueError(f"{opname}: output_shape={out} with kernel_size={kernel_size} "
                             f"and strides={strides} does not fit the input. Received: "
                             f"inputs.shape={xs} ({data_format})")
    return _local_conv2d(inputs, kernel, kernel_size, strides, out, data_format,
                         _local_dtype(opname, inputs, kernel))
