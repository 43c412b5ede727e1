"""The float32 rewrite of 8-bit TFLite files, checked against an independent PyTorch run."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="TFLite files need ai-edge-litert")

from analytics.classifiers.facex import (
    float_model_bytes,
    litert_interpreter,
    to_facex_input,
)
from analytics.classifiers.registry import model_weights
from analytics.classifiers.tflite_graph import (
    TFLiteGraph,
    TFLiteGraphError,
    float_model,
    read_graph,
)


@pytest.fixture(scope="module")
def graph() -> TFLiteGraph:
    return TFLiteGraph(model_weights("facex")).eval()


def _run_runtime(model: bytes, x: np.ndarray) -> np.ndarray:
    interp = litert_interpreter(model, num_threads=1)
    inp = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(inp, list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp, x)
    interp.invoke()
    return np.array(interp.get_tensor(interp.get_output_details()[0]["index"]))


def test_runtime_and_pytorch_agree_on_the_float_model(graph, tight_crops) -> None:
    """Two implementations (TFLite's XNNPACK kernels, PyTorch ops) of one float network."""
    crops = np.concatenate([c for c in tight_crops.values() if len(c)])
    x = to_facex_input(crops)
    runtime = _run_runtime(float_model_bytes(model_weights("facex")), x)
    torch_probs = graph(x).numpy()
    assert runtime.shape == torch_probs.shape == (len(crops), 7)
    np.testing.assert_allclose(runtime, torch_probs, atol=1e-4)
    np.testing.assert_allclose(runtime.sum(axis=1), 1.0, atol=1e-5)


def test_float_model_has_no_8bit_weights_left() -> None:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(float_model_bytes(model_weights("facex")), 0)
    g = model.subgraphs[0]
    read = {t for op in g.operators for t in op.inputs if t >= 0}
    types = {g.tensors[t].type for t in read}
    assert types <= {schema.TensorType.FLOAT32, schema.TensorType.INT32}, types
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    used = {codes[op.opcodeIndex] for op in g.operators}
    assert schema.BuiltinOperator.DEQUANTIZE not in used
    assert schema.BuiltinOperator.CONV_2D in used


def test_hybrid_weights_are_read_as_signed_bytes() -> None:
    """The shipped file stores int8 weights as UINT8 with zero point 0 (older converters)."""
    ops, consts, _shapes, _i, _o = read_graph(model_weights("facex"))
    conv = next(op for op in ops if op.name == "CONV_2D" and consts[op.inputs[1]].scale is not None)
    w = consts[conv.inputs[1]]
    assert w.raw.dtype == np.uint8 and (w.raw > 127).any()
    signed = w.values(hybrid=True)
    assert signed.min() < 0 < signed.max()          # symmetric around zero, as trained
    np.testing.assert_allclose(np.abs(signed).max(), 127 * w.scale.max(), rtol=1e-6)


def test_intermediate_tensors_are_returned_in_nchw(graph, tight_crops) -> None:
    ops, *_ = read_graph(model_weights("facex"))
    fc = next(op for op in ops if op.name == "FULLY_CONNECTED")
    x = to_facex_input(np.concatenate([c for c in tight_crops.values() if len(c)])[:2])
    out = graph.run(x, keep=(fc.inputs[0],))
    assert tuple(out[fc.inputs[0]].shape) == (2, 1280, 6, 6)
    assert (out[fc.inputs[0]] >= 0).all() and (out[fc.inputs[0]] <= 6).all()   # ReLU6
    with pytest.raises(ValueError, match="input must be"):
        graph.run(np.zeros((1, 64, 64, 3), np.float32))


def test_garbage_and_unsupported_operators_are_refused(tmp_path) -> None:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 10)
    with pytest.raises(TFLiteGraphError, match="not a TFLite model"):
        read_graph(junk)
    model = schema.ModelT.InitFromPackedBuf(model_weights("facex").read_bytes(), 0)
    softmax = next(c for c in model.operatorCodes
                   if max(c.builtinCode, c.deprecatedBuiltinCode)
                   == schema.BuiltinOperator.SOFTMAX)
    softmax.builtinCode = softmax.deprecatedBuiltinCode = schema.BuiltinOperator.LOGISTIC
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    odd = tmp_path / "odd.tflite"
    odd.write_bytes(bytes(builder.Output()))
    with pytest.raises(TFLiteGraphError, match="LOGISTIC is not supported"):
        float_model(odd)
    with pytest.raises(TFLiteGraphError, match="LOGISTIC is not supported"):
        TFLiteGraph(odd)


def test_features_are_the_penultimate_layer_averaged(graph, facex_clf, tight_crops) -> None:
    from analytics.classifiers.facex import FEATURE_DIM, penultimate_tensor

    crops = np.concatenate([c for c in tight_crops.values() if len(c)])[:4]
    feats = facex_clf.features(crops)
    tid = penultimate_tensor(model_weights("facex"))
    ref = graph.run(to_facex_input(crops), keep=(tid,))[tid].mean(dim=(2, 3)).numpy()
    assert feats.shape == (4, FEATURE_DIM) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, ref, atol=1e-4)
    assert facex_clf.features(crops[:0]).shape == (0, FEATURE_DIM)


def test_extra_outputs_must_be_activations() -> None:
    _ops, consts, *_ = read_graph(model_weights("facex"))
    weight = next(t for t in consts)
    with pytest.raises(TFLiteGraphError, match="not activations"):
        float_model(model_weights("facex"), extra_outputs=(weight,))
