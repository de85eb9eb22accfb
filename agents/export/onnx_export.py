"""A `PolicyProgram` as one self-contained ONNX graph (opset 17): normaliser, MLP, mask, argmax or clip.

The graph is written node by node rather than traced from torch, so it holds exactly the program the numpy
runtime runs (same float64 normaliser, same post-processing) and nothing SB3-specific. Inputs: `obs` float32
(batch, obs_size) and, for discrete actions, `action_mask` bool (batch, n); output: `action` (int64 indices or
float32 values) with a leading batch dimension.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sysgym.runtime.policy.onnx_runner import ACTION_OUTPUT, MASK_INPUT, METADATA_KEY, OBS_INPUT
from sysgym.runtime.policy.program import Dense, PolicyProgram

OPSET = 17
IR_VERSION = 8
"""The IR version of opset 17, so runtimes from 2022 on can load the artifact."""


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, value: np.ndarray | np.generic) -> str:
        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = self.name(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _activation(graph: _Graph, layer: Dense, x: str) -> str:
    if layer.activation == "identity":
        return x
    if layer.activation == "tanh":
        return graph.op("Tanh", [x])
    if layer.activation == "relu":
        return graph.op("Relu", [x])
    if layer.activation == "leaky_relu":
        return graph.op("LeakyRelu", [x], alpha=layer.alpha)
    if layer.activation == "elu":
        return graph.op("Elu", [x], alpha=layer.alpha)
    if layer.activation == "sigmoid":
        return graph.op("Sigmoid", [x])
    return graph.op("Mul", [x, graph.op("Sigmoid", [x])], stem="silu")


def _normalise(graph: _Graph, program: PolicyProgram, x: str) -> str:
    norm = program.normaliser
    if norm is None:
        return x
    z = graph.op("Cast", [x], to=TensorProto.DOUBLE)
    z = graph.op("Sub", [z, graph.const("obs_mean", norm.mean.astype(np.float64))])
    z = graph.op("Div", [z, graph.const("obs_std", norm.std.astype(np.float64))])
    low, high = graph.const("clip_low", np.float64(-norm.clip)), graph.const("clip_high", np.float64(norm.clip))
    z = graph.op("Clip", [z, low, high])
    return graph.op("Cast", [z], to=TensorProto.FLOAT)


def _head(graph: _Graph, program: PolicyProgram, scores: str) -> tuple[str, int, list[int | str]]:
    """The action tensor's name, ONNX element type and shape."""
    head = program.head
    if head.kind == "box":
        assert head.low is not None and head.high is not None
        low = graph.const("act_low", head.low.reshape(-1).astype(np.float32))
        high = graph.const("act_high", head.high.reshape(-1).astype(np.float32))
        if head.squash:
            span = graph.const("act_span", (head.high - head.low).reshape(-1).astype(np.float32))
            t = graph.op("Add", [graph.op("Tanh", [scores]), graph.const("one", np.float32(1.0))])
            t = graph.op("Mul", [t, graph.const("half", np.float32(0.5))])
            action = graph.op("Add", [low, graph.op("Mul", [t, span])])
        else:
            action = graph.op("Min", [graph.op("Max", [scores, low]), high])
        shape = list(head.low.shape)
        action = graph.op("Reshape", [action, graph.const("act_shape", np.array([-1, *shape], dtype=np.int64))])
        return action, TensorProto.FLOAT, ["batch", *shape]
    if head.kind == "argmax":
        action = _choose(graph, head.mask_rule, scores, MASK_INPUT, head.nvec[0], keepdims=0)
        return action, TensorProto.INT64, ["batch"]
    sizes = graph.const("nvec", np.asarray(head.nvec, np.int64))
    parts = [graph.name("part") for _ in head.nvec]
    masks = [graph.name("part_mask") for _ in head.nvec]
    graph.nodes.append(helper.make_node("Split", [scores, sizes], parts, axis=1))
    graph.nodes.append(helper.make_node("Split", [MASK_INPUT, sizes], masks, axis=1))
    picks = [
        _choose(graph, head.mask_rule, part, mask, n, keepdims=1)
        for part, mask, n in zip(parts, masks, head.nvec, strict=True)
    ]
    action = graph.op("Concat", picks, axis=1)
    return action, TensorProto.INT64, ["batch", len(head.nvec)]


def _choose(graph: _Graph, rule: str, scores: str, mask: str, n: int, keepdims: int) -> str:
    """Per row, the index `rule` picks among `n` scores under `mask` (int64, (batch,) or (batch, 1))."""
    if rule == "masked_argmax":
        masked = graph.op("Where", [mask, scores, graph.const("neg_inf", np.float32(-np.inf))])
        return graph.op("ArgMax", [masked], axis=1, keepdims=keepdims)
    best = graph.op("ArgMax", [scores], axis=1, keepdims=1)
    distance = graph.op("Abs", [graph.op("Sub", [graph.const("index", np.arange(n, dtype=np.int64)), best])])
    distance = graph.op("Where", [mask, distance, graph.const("far", np.int64(n))])
    nearest = graph.op("ArgMin", [distance], axis=1, keepdims=1)
    any_valid = graph.op("ReduceMax", [graph.op("Cast", [mask], to=TensorProto.INT32)], axes=[1], keepdims=1)
    any_valid = graph.op("Cast", [any_valid], to=TensorProto.BOOL)
    chosen = graph.op("Where", [any_valid, nearest, best])
    if keepdims:
        return chosen
    return graph.op("Squeeze", [chosen, graph.const("axis", np.array([1], dtype=np.int64))])


def to_onnx(program: PolicyProgram) -> onnx.ModelProto:
    """The ONNX model of `program`, checked with onnx's full checker (type and shape inference)."""
    graph = _Graph()
    x = _normalise(graph, program, OBS_INPUT)
    for layer in program.layers:
        x = graph.op("Gemm", [x, graph.const("weight", layer.weight), graph.const("bias", layer.bias)], transB=1)
        x = _activation(graph, layer, x)
    action, element, shape = _head(graph, program, x)
    graph.nodes.append(helper.make_node("Identity", [action], [ACTION_OUTPUT]))
    inputs = [helper.make_tensor_value_info(OBS_INPUT, TensorProto.FLOAT, ["batch", program.input_size])]
    if program.head.kind != "box":
        inputs.append(helper.make_tensor_value_info(MASK_INPUT, TensorProto.BOOL, ["batch", sum(program.head.nvec)]))
    meta = program.metadata
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            f"sysgym_policy_{meta.algorithm}",
            inputs,
            [helper.make_tensor_value_info(ACTION_OUTPUT, element, shape)],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="sysgym",
        producer_version=meta.sysgym_version,
        doc_string=f"{meta.algorithm} policy for {meta.env_id} (run {meta.run_id}), exported by sysgym export",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {METADATA_KEY: meta.to_json()})
    onnx.checker.check_model(model, full_check=True)
    return model


def save_onnx(program: PolicyProgram, path: Path) -> None:
    """Write the checked ONNX model of `program` to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(to_onnx(program), str(path))
