"""Runs an exported `.onnx` policy with onnxruntime (imported lazily: the numpy runtime must not need it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sysgym.runtime.policy.program import ArtifactError, PolicyMetadata

METADATA_KEY = "sysgym.metadata"
"""The ONNX `metadata_props` key holding `PolicyMetadata.to_json()`."""

OBS_INPUT = "obs"
MASK_INPUT = "action_mask"
ACTION_OUTPUT = "action"


class OnnxPolicy:
    """An onnxruntime session behind the same `act` / `act_batch` interface as `NumpyPolicy`.

    Attributes:
        metadata: the artifact's metadata.
        path: the `.onnx` file.
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ArtifactError(f"{path}: onnxruntime cannot load it ({exc})") from exc
        props = self._session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ArtifactError(f"{path}: an ONNX model without sysgym metadata ({METADATA_KEY!r})")
        self.path = path
        self.metadata = PolicyMetadata.from_json(props[METADATA_KEY])
        inputs = {i.name for i in self._session.get_inputs()}
        self._masked = MASK_INPUT in inputs
        self._kind = self.metadata.action_space.kind
        self._mask_size = (
            self.metadata.action_space.n if self._kind == "Discrete" else sum(self.metadata.action_space.nvec)
        )
        self._outputs = [ACTION_OUTPUT]
        self._shape = self.metadata.action_space.shape
        self._size = int(path.stat().st_size)

    @property
    def memory_bytes(self) -> int:
        """The model file's size: onnxruntime keeps the initializers (weights) resident."""
        return self._size

    def act(self, obs: Any, mask: Any = None) -> Any:
        """The action for one observation."""
        batch = np.asarray(obs, dtype=np.float32).reshape(1, -1)
        masks = None if mask is None else np.asarray(mask, dtype=bool).reshape(1, -1)
        action = self.act_batch(batch, masks)[0]
        return int(action) if self._kind == "Discrete" else action

    def act_batch(self, obs: Any, masks: Any = None) -> np.ndarray:
        """Actions for a batch of observations."""
        batch = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        feeds = {OBS_INPUT: batch}
        if self._masked:
            feeds[MASK_INPUT] = (
                np.ones((len(batch), self._mask_size), dtype=bool)
                if masks is None
                else np.asarray(masks, dtype=bool).reshape(len(batch), -1)
            )
        (actions,) = self._session.run(self._outputs, feeds)
        return np.asarray(actions).reshape((len(batch), *self._shape))
