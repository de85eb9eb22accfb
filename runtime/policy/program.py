"""What an exported policy is, independent of its file format: normaliser, dense layers, action head, metadata.

Both artifact formats (`.npz` for the numpy runtime, `.onnx` for onnxruntime) are serialisations of one
`PolicyProgram`, so the two can never disagree on what the policy computes. Only numpy is needed here: a storage
layer or a scheduler loads a policy without torch or stable-baselines3.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sysgym.envs.core.errors import SysgymError

FORMAT_VERSION = 1
"""Bumped whenever the meaning of a serialised program changes; loaders refuse other versions."""

ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "sigmoid", "silu", "identity")
"""Activations the runtimes implement (the ones SB3 users put in `policy_kwargs["activation_fn"]`)."""

HEAD_KINDS = ("argmax", "multi_argmax", "box")
"""`argmax`: Discrete (logits or Q-values); `multi_argmax`: MultiDiscrete; `box`: continuous."""

MASK_RULES = ("masked_argmax", "nearest_valid")
"""How a discrete head obeys the action mask, matching how the agent was trained:
`masked_argmax` (maskable algorithms: masked-out scores never win) or `nearest_valid` (algorithms that never saw
masks and trained behind `sysgym train`'s valid-action wrapper: the unmasked argmax, replaced by the nearest valid
index, the lower one on ties, when it is masked out)."""


class ArtifactError(SysgymError, ValueError):
    """An artifact that cannot be read, or that does not fit the env it is used with."""


@dataclass(frozen=True)
class SpaceSpec:
    """A Gymnasium space as plain data, so an artifact records (and a deployment can check) what it was made for.

    Attributes:
        kind: `Box`, `Discrete` or `MultiDiscrete`.
        shape: the space's shape.
        dtype: numpy dtype name.
        low: Box lower bounds (one value when uniform), else empty.
        high: Box upper bounds (one value when uniform), else empty.
        n: Discrete size (0 for other kinds).
        start: Discrete/MultiDiscrete start offsets (empty when all zero).
        nvec: MultiDiscrete sizes, else empty.
    """

    kind: str
    shape: tuple[int, ...]
    dtype: str
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    n: int = 0
    start: tuple[int, ...] = ()
    nvec: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpaceSpec:
        """Inverse of `to_json`."""
        try:
            return cls(
                kind=str(data["kind"]),
                shape=tuple(int(x) for x in data["shape"]),
                dtype=str(data["dtype"]),
                low=tuple(float(x) for x in data.get("low", ())),
                high=tuple(float(x) for x in data.get("high", ())),
                n=int(data.get("n", 0)),
                start=tuple(int(x) for x in data.get("start", ())),
                nvec=tuple(int(x) for x in data.get("nvec", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"malformed space description {data!r}: {exc}") from exc

    def differences(self, other: SpaceSpec) -> list[str]:
        """`field: mine != theirs` for every field that differs (empty when the spaces are the same)."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: {_short(mine[k])} != {_short(theirs[k])}" for k in mine if mine[k] != theirs[k]]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class PolicyMetadata:
    """Where an artifact comes from and what it fits.

    Attributes:
        env_id: the versioned env id the policy was trained on.
        env_version: the `N` of `-vN` (a deployment refuses other versions).
        observation_space: the env's observation space at training time.
        action_space: the env's action space at training time.
        sysgym_version: the package version that exported the artifact.
        run_id: the training run's id (its folder name unless the run recorded one).
        algorithm: the SB3 algorithm that trained the network (`ppo`, `maskable-ppo`, `dqn`, ...).
        masked: whether the artifact takes an action mask (Discrete and MultiDiscrete actions).
        format_version: `FORMAT_VERSION` at export time.
        extra: free-form provenance (training timesteps, seed, exporter versions).
    """

    env_id: str
    env_version: int
    observation_space: SpaceSpec
    action_space: SpaceSpec
    sysgym_version: str
    run_id: str
    algorithm: str
    masked: bool
    format_version: int = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON string (stored inside both artifact formats)."""
        data = asdict(self)
        data["observation_space"] = self.observation_space.to_json()
        data["action_space"] = self.action_space.to_json()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicyMetadata:
        """Inverse of `to_json`; refuses another format version."""
        try:
            data = json.loads(text)
            version = int(data.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise ArtifactError(f"artifact format version {version}; this runtime reads {FORMAT_VERSION}")
            return cls(
                env_id=str(data["env_id"]),
                env_version=int(data["env_version"]),
                observation_space=SpaceSpec.from_json(data["observation_space"]),
                action_space=SpaceSpec.from_json(data["action_space"]),
                sysgym_version=str(data["sysgym_version"]),
                run_id=str(data["run_id"]),
                algorithm=str(data["algorithm"]),
                masked=bool(data["masked"]),
                format_version=version,
                extra={str(k): str(v) for k, v in data.get("extra", {}).items()},
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ArtifactError):
                raise
            raise ArtifactError(f"malformed artifact metadata: {exc}") from exc


@dataclass(frozen=True)
class Normaliser:
    """VecNormalize's observation transform: `clip((obs - mean) / std, -clip, clip)`, computed in float64.

    Attributes:
        mean: running mean of the observations (float64).
        std: `sqrt(var + epsilon)` (float64), so the division matches VecNormalize bit for bit.
        clip: clip bound after normalising.
    """

    mean: np.ndarray
    std: np.ndarray
    clip: float


@dataclass(frozen=True)
class Dense:
    """`activation(x @ weight.T + bias)` in float32.

    Attributes:
        weight: (out, in) float32, torch's `nn.Linear` layout.
        bias: (out,) float32.
        activation: one of `ACTIVATIONS`.
        alpha: negative slope of `leaky_relu`, or alpha of `elu`.
    """

    weight: np.ndarray
    bias: np.ndarray
    activation: str
    alpha: float = 0.0


@dataclass(frozen=True)
class Head:
    """How the last layer's output becomes an env action.

    Attributes:
        kind: one of `HEAD_KINDS`.
        nvec: category counts (`argmax`: one entry; `multi_argmax`: one per sub-action).
        low: Box lower bounds (float32), `box` only.
        high: Box upper bounds (float32), `box` only.
        squash: `box` only: tanh then rescale from [-1, 1] (SB3 `squash_output`) instead of clipping.
        mask_rule: discrete heads: one of `MASK_RULES`.
    """

    kind: str
    nvec: tuple[int, ...] = ()
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    squash: bool = False
    mask_rule: str = "masked_argmax"


@dataclass(frozen=True)
class PolicyProgram:
    """A complete deterministic policy: `head(layers(normaliser(obs)), mask)`.

    Attributes:
        metadata: provenance and the spaces the policy fits.
        normaliser: observation normalisation, or None when the run did not normalise observations.
        layers: the network, first layer first; the last one produces logits, Q-values or action means.
        head: the action post-processing.
    """

    metadata: PolicyMetadata
    normaliser: Normaliser | None
    layers: tuple[Dense, ...]
    head: Head

    def __post_init__(self) -> None:
        if self.head.kind not in HEAD_KINDS:
            raise ArtifactError(f"unknown head kind {self.head.kind!r}; known: {HEAD_KINDS}")
        if self.head.mask_rule not in MASK_RULES:
            raise ArtifactError(f"unknown mask rule {self.head.mask_rule!r}; known: {MASK_RULES}")
        if not self.layers:
            raise ArtifactError("a policy needs at least one layer")
        for index, layer in enumerate(self.layers):
            if layer.activation not in ACTIVATIONS:
                raise ArtifactError(f"layer {index}: unknown activation {layer.activation!r}; known: {ACTIVATIONS}")
            if layer.weight.ndim != 2 or layer.bias.shape != (layer.weight.shape[0],):
                raise ArtifactError(f"layer {index}: weight {layer.weight.shape} and bias {layer.bias.shape} disagree")
        for index, (a, b) in enumerate(zip(self.layers, self.layers[1:], strict=False)):
            if a.weight.shape[0] != b.weight.shape[1]:
                raise ArtifactError(
                    f"layer {index + 1} takes {b.weight.shape[1]} inputs, layer {index} gives {a.weight.shape[0]}"
                )
        if self.normaliser is not None and self.normaliser.mean.shape != (self.input_size,):
            raise ArtifactError(f"normaliser of size {self.normaliser.mean.shape} for {self.input_size} inputs")
        expected = (
            int(np.prod(self.head.low.shape))
            if self.head.kind == "box" and self.head.low is not None
            else sum(self.head.nvec)
        )
        if self.output_size != expected:
            raise ArtifactError(
                f"the network gives {self.output_size} outputs, the {self.head.kind} head takes {expected}"
            )

    @property
    def input_size(self) -> int:
        """Length of the (flattened) observation."""
        return int(self.layers[0].weight.shape[1])

    @property
    def output_size(self) -> int:
        """Length of the last layer's output."""
        return int(self.layers[-1].weight.shape[0])

    @property
    def parameter_bytes(self) -> int:
        """Bytes of every array the forward pass keeps in memory."""
        arrays = [a for layer in self.layers for a in (layer.weight, layer.bias)]
        if self.normaliser is not None:
            arrays += [self.normaliser.mean, self.normaliser.std]
        if self.head.low is not None and self.head.high is not None:
            arrays += [self.head.low, self.head.high]
        return int(sum(a.nbytes for a in arrays))
