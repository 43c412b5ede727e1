"""Float32 versions of small 8-bit TFLite image classifiers, and a PyTorch reference runner.

TFLite "dynamic-range" models (such as facex's ``model_optimized.tflite``) store most weights
as 8-bit integers and quantize *activations* on the fly inside each hybrid kernel, per image.
That makes the TFLite runtime slow for them on a CPU (the graph falls apart into small
delegate partitions around the hybrid kernels) and makes their answers drift with the kernel
used (facex's probabilities move by up to 0.11 with and without the XNNPACK delegate).

:func:`float_model` rewrites such a file with every weight dequantized once
(``(q - zero_point) * scale``), so the runtime runs the whole network in float32 (the
arithmetic the model was trained in) inside one XNNPACK partition. :class:`TFLiteGraph` runs
the same float network in PyTorch, op by op, as an independent reference (the port check
compares the two) and to read intermediate activations (features).

Supported operators (what small image classifiers need): ``PAD``, ``CONV_2D``,
``DEPTHWISE_CONV_2D``, ``ADD``, ``FULLY_CONNECTED``, ``SOFTMAX``, ``DEQUANTIZE`` of constant
weights; fused activations none, ReLU and ReLU6. Anything else raises
:class:`TFLiteGraphError` when the file is read, never a wrong answer later.

Files are parsed with the flatbuffer schema that ``ai-edge-litert`` ships
(``ai_edge_litert.schema_py_generated``); it and ``flatbuffers`` (optional, installed with
``ai-edge-litert``) are imported when a file is read or written, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class TFLiteGraphError(ValueError):
    """The file is not a TFLite model this module can run; the message says why."""


@dataclass(frozen=True)
class _Op:
    """One operator: its name, input/output tensor ids and builtin options (or None)."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: object


_ACTIVATIONS: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {
    0: lambda x: x,
    1: F.relu,
    3: lambda x: F.hardtanh(x, 0.0, 6.0),
}
"""TFLite ``ActivationFunctionType``: NONE, RELU, RELU6."""

_SAME, _VALID = 0, 1
"""TFLite ``Padding``."""


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise TFLiteGraphError("reading a TFLite file needs ai-edge-litert's flatbuffer "
                               "schema: pip install ai-edge-litert") from None
    return schema_py_generated


@dataclass(frozen=True)
class _Const:
    """A stored tensor: raw values, and scale/zero point where it is 8-bit."""

    raw: np.ndarray
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int = 0

    def values(self, *, hybrid: bool) -> np.ndarray:
        """Float32 values; ``hybrid``: 8-bit weights read by a hybrid kernel.

        TFLite's hybrid kernels (``CONV_2D``, ``FULLY_CONNECTED`` with 8-bit weights and
        float activations) read the weight bytes as *signed* int8 whatever the tensor's
        declared type: older converters stored symmetric int8 weights as ``UINT8`` with
        zero point 0. ``DEQUANTIZE`` instead honours the type and zero point.
        """
        if self.scale is None:
            return self.raw.astype(np.float32, copy=True)
        q = self.raw.view(np.int8) if hybrid else self.raw
        scale, zero = self.scale, self.zero_point
        if len(scale) > 1:
            shape = [1] * q.ndim
            shape[self.axis] = len(scale)
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q.astype(np.float32) - (0.0 if hybrid else zero)) * scale).astype(np.float32)


def _constant(model, tensor) -> _Const | None:
    """A tensor's stored data (None: an activation, no data)."""
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    if data is None or len(data) == 0:
        return None
    s = _schema()
    dtypes = {s.TensorType.FLOAT32: np.float32, s.TensorType.INT32: np.int32,
              s.TensorType.UINT8: np.uint8, s.TensorType.INT8: np.int8}
    if tensor.type not in dtypes:
        raise TFLiteGraphError(f"tensor {tensor.name!r}: unsupported type {tensor.type}")
    arr = np.frombuffer(bytes(np.asarray(data, np.uint8)), dtypes[tensor.type])
    arr = arr.reshape([int(d) for d in tensor.shape])
    if tensor.type not in (s.TensorType.UINT8, s.TensorType.INT8):
        return _Const(arr)
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        raise TFLiteGraphError(f"8-bit tensor {tensor.name!r} has no quantization scale")
    zero = q.zeroPoint if q.zeroPoint is not None and len(q.zeroPoint) else [0] * len(q.scale)
    return _Const(arr, np.asarray(q.scale, np.float32), np.asarray(zero, np.float32),
                  int(q.quantizedDimension))


def read_graph(path: Path) -> tuple[list[_Op], dict[int, _Const], dict[int, tuple[int, ...]],
                                    int, int]:
    """Parse ``path``: operators in run order, constants, tensor shapes, input and output id.

    Raises:
        TFLiteGraphError: not a readable single-input, single-output, one-subgraph model,
            or an operator this module does not support.
    """
    s = _schema()
    model = _load_model(path)
    if len(model.subgraphs) != 1:
        raise TFLiteGraphError(f"{path}: expected one subgraph, found {len(model.subgraphs)}")
    g = model.subgraphs[0]
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise TFLiteGraphError(f"{path}: expected one input and one output")
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    ops = []
    for op in g.operators:
        name = names.get(codes[op.opcodeIndex], str(codes[op.opcodeIndex]))
        if name not in _RUNNERS:
            raise TFLiteGraphError(f"{path}: operator {name} is not supported")
        ops.append(_Op(name, tuple(int(i) for i in op.inputs),
                       tuple(int(i) for i in op.outputs), op.builtinOptions))
    consts = {}
    for i, t in enumerate(g.tensors):
        value = _constant(model, t)
        if value is not None:
            consts[i] = value
    shapes = {i: tuple(int(d) for d in t.shape) for i, t in enumerate(g.tensors)}
    return ops, consts, shapes, int(g.inputs[0]), int(g.outputs[0])



def _load_model(path: Path):
    s = _schema()
    try:
        return s.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    except Exception as exc:  # the flatbuffer reader raises many kinds on garbage
        raise TFLiteGraphError(f"{path}: not a TFLite model ({exc})") from None


def float_model(path: Path, *, extra_outputs: tuple[int, ...] = ()) -> bytes:
    """The model of ``path`` with every 8-bit weight dequantized: a float32 TFLite model.

    Hybrid operators become plain float operators (weights dequantized as their hybrid
    kernels read them) and ``DEQUANTIZE`` operators of constant weights are folded away,
    so the TFLite runtime (and its XNNPACK delegate) runs the whole network in float32 with
    no activation quantization. :class:`TFLiteGraph` runs the same arithmetic in PyTorch.

    Args:
        path: the ``.tflite`` file.
        extra_outputs: tensor ids (activations) to return after the model's own output,
            e.g. a penultimate layer for features.

    Raises:
        TFLiteGraphError: see :func:`read_graph` (the same checks run first), or an
            extra output that is not an activation of the graph.
    """
    import flatbuffers

    ops, consts, *_ = read_graph(path)  # refuse what TFLiteGraph would refuse
    produced = {t for op in ops if op.name != "DEQUANTIZE" for t in op.outputs}
    bad = [t for t in extra_outputs if t not in produced or t in consts]
    if bad:
        raise TFLiteGraphError(f"extra outputs {bad} are not activations of {path}")
    s = _schema()
    model = _load_model(path)
    g = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    kept = []
    for op in g.operators:
        if codes[op.opcodeIndex] == s.BuiltinOperator.DEQUANTIZE:
            values = _constant(model, g.tensors[op.inputs[0]]).values(hybrid=False)
            _set_float(model, g.tensors[op.outputs[0]], values, new_buffer=True)
            continue
        for tid in op.inputs[1:]:
            t = g.tensors[tid] if tid >= 0 else None
            if t is not None and t.type in (s.TensorType.UINT8, s.TensorType.INT8):
                _set_float(model, t, _constant(model, t).values(hybrid=True))
        kept.append(op)
    g.operators = kept
    g.outputs = [*g.outputs, *extra_outputs]
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _set_float(model, tensor, values: np.ndarray, *, new_buffer: bool = False) -> None:
    """Make ``tensor`` a float32 constant holding ``values``."""
    s = _schema()
    data = np.frombuffer(np.ascontiguousarray(values, np.float32).tobytes(), np.uint8)
    if new_buffer:
        buf = s.BufferT()
        model.buffers.append(buf)
        tensor.buffer = len(model.buffers) - 1
    model.buffers[tensor.buffer].data = data
    tensor.type, tensor.quantization = s.TensorType.FLOAT32, None

Tensors = dict[int, torch.Tensor]
"""Activations by TFLite tensor id: ``(n, C, H, W)`` (channels-last memory) or ``(n, k)``."""


def _same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite/TensorFlow SAME padding of one axis: (before, after); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class TFLiteGraph(nn.Module):
    """The operators of a TFLite file as one float32 PyTorch module.

    Args:
        path: the ``.tflite`` file.

    Input ``(n, H, W, C)`` float32 (the model's own input layout, any ``n``); output the
    model's output tensor, ``(n, k)``. :meth:`run` also returns intermediate tensors.

    Raises:
        TFLiteGraphError: see :func:`read_graph`.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        ops, consts, self._shapes, self.input_id, self.output_id = read_graph(path)
        self._steps: list[Callable[[Tensors], None]] = []
        for op in ops:
            step = _RUNNERS[op.name](self, op, consts)
            if step is not None:
                self._steps.append(step)
        self.input_shape = self._shapes[self.input_id]

    def _buffer(self, tid: int, value: np.ndarray) -> torch.Tensor:
        """Keep ``value`` (weights in PyTorch's layout) as buffer ``t<tid>``."""
        name = f"t{tid}"
        self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(value, np.float32)))
        return getattr(self, name)

    @torch.inference_mode()
    def run(self, x: torch.Tensor | np.ndarray, keep: tuple[int, ...] = ()) -> Tensors:
        """Run the graph; return the output and every tensor id in ``keep``.

        Args:
            x: ``(n, H, W, C)`` float32 in the model's input layout.
            keep: intermediate tensor ids to return (NCHW for 4-D tensors).
        """
        t = torch.as_tensor(np.asarray(x, np.float32))
        want = tuple(self.input_shape[1:])
        if t.ndim != 4 or tuple(t.shape[1:]) != want:
            raise ValueError(f"input must be (n, {', '.join(map(str, want))}), "
                             f"got {tuple(t.shape)}")
        tensors: Tensors = {self.input_id: t.permute(0, 3, 1, 2)}
        for step in self._steps:
            step(tensors)
        return {k: tensors[k] for k in (*keep, self.output_id)}

    def forward(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.run(x)[self.output_id]


def _conv(graph: TFLiteGraph, op: _Op, consts: dict[int, _Const],
          depthwise: bool = False) -> Callable[[Tensors], None]:
    src, wid, bid = op.inputs
    o = op.options
    w = _weights(consts, wid, op)
    if depthwise:  # (1, kh, kw, C * m) -> (C * m, 1, kh, kw)
        weight, groups = graph._buffer(wid, w.transpose(3, 0, 1, 2)), graph._shapes[src][3]
    else:  # (O, kh, kw, I) -> (O, I, kh, kw)
        weight, groups = graph._buffer(wid, w.transpose(0, 3, 1, 2)), 1
    bias = graph._buffer(bid, _weights(consts, bid, op)) if bid >= 0 else None
    stride, dil = (o.strideH, o.strideW), (o.dilationHFactor, o.dilationWFactor)
    kh, kw = weight.shape[2:]
    h, w_in = graph._shapes[src][1:3]
    pad = (0, 0, 0, 0)
    if o.padding == _SAME:
        (t, b), (left, r) = (_same_pads(h, kh, stride[0], dil[0]),
                             _same_pads(w_in, kw, stride[1], dil[1]))
        pad = (left, r, t, b)
    act, out = _activation(op), op.outputs[0]
    symmetric = pad[0] == pad[1] and pad[2] == pad[3]

    def step(ts: Tensors) -> None:
        x = ts[src]
        if not symmetric:
            x = F.pad(x, pad)
        y = F.conv2d(x, weight, bias, stride, (pad[2], pad[0]) if symmetric else 0, dil, groups)
        ts[out] = act(y)
    return step


def _weights(consts: dict[int, _Const], tid: int, op: _Op) -> np.ndarray:
    """Float values of a constant input of ``op`` (8-bit ones as its hybrid kernel reads them)."""
    if tid not in consts:
        raise TFLiteGraphError(f"{op.name}: tensor {tid} must be a constant")
    return consts[tid].values(hybrid=True)


def _activation(op: _Op) -> Callable[[torch.Tensor], torch.Tensor]:
    code = getattr(op.options, "fusedActivationFunction", 0)
    if code not in _ACTIVATIONS:
        raise TFLiteGraphError(f"{op.name}: fused activation {code} is not supported")
    return _ACTIVATIONS[code]


def _pad(graph: TFLiteGraph, op: _Op, consts: dict[int, _Const]) -> Callable:
    src, pid = op.inputs[:2]
    p = consts[pid].raw if pid in consts else None
    if p is None or p.shape != (4, 2) or p[0].any():
        raise TFLiteGraphError("PAD: paddings must be a constant (4, 2) without batch padding")
    pad = tuple(int(v) for v in (*p[2], *p[1], *p[3]))  # W, H, C in F.pad's order
    out = op.outputs[0]

    def step(ts: Tensors) -> None:
        ts[out] = F.pad(ts[src], pad)
    return step


def _dequantize_op(graph: TFLiteGraph, op: _Op, consts: dict[int, _Const]) -> None:
    if op.inputs[0] not in consts:
        raise TFLiteGraphError("DEQUANTIZE of an activation is not supported")
    consts[op.outputs[0]] = _Const(consts[op.inputs[0]].values(hybrid=False))


def _add(graph: TFLiteGraph, op: _Op, consts: dict[int, _Const]) -> Callable:
    a, b = op.inputs
    if a in consts or b in consts:
        raise TFLiteGraphError("ADD: only the sum of two activations is supported")
    act, out = _activation(op), op.outputs[0]

    def step(ts: Tensors) -> None:
        ts[out] = act(ts[a] + ts[b])
    return step


def _fully_connected(graph: TFLiteGraph, op: _Op, consts: dict[int, _Const]) -> Callable:
    src, wid = op.inputs[:2]
    bid = op.inputs[2] if len(op.inputs) > 2 else -1
    w = _weights(consts, wid, op)
    if w.ndim != 2:
        raise TFLiteGraphError("FULLY_CONNECTED: weights must be a matrix")
    shape = graph._shapes[src]
    if len(shape) == 4:  # NHWC flatten order -> the NCHW order activations have here
        h, w_, c = shape[1:]
        w = w.reshape(-1, h, w_, c).transpose(0, 3, 1, 2).reshape(len(w), -1)
    weight = graph._buffer(wid, w)
    bias = graph._buffer(bid, _weights(consts, bid, op)) if bid >= 0 else None
    act, out = _activation(op), op.outputs[0]

    def step(ts: Tensors) -> None:
        ts[out] = act(F.linear(ts[src].flatten(1), weight, bias))
    return step


def _softmax(graph: TFLiteGraph, op: _Op, consts: dict[int, _Const]) -> Callable:
    src, out, beta = op.inputs[0], op.outputs[0], float(op.options.beta)
    if len(graph._shapes[src]) != 2:
        raise TFLiteGraphError("SOFTMAX: only (n, k) inputs are supported")

    def step(ts: Tensors) -> None:
        ts[out] = torch.softmax(ts[src] * beta, dim=1)
    return step


_RUNNERS: dict[str, Callable[..., Callable[[Tensors], None] | None]] = {
    "PAD": _pad,
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": lambda g, op, c: _conv(g, op, c, depthwise=True),
    "DEQUANTIZE": _dequantize_op,
    "ADD": _add,
    "FULLY_CONNECTED": _fully_connected,
    "SOFTMAX": _softmax,
}
