"""Read the deterministic decision path out of a trained SB3 / sb3-contrib model as a `PolicyProgram`.

SB3 ships no exporter, and the two classic bugs of hand-written ones are a missing observation normalisation
(VecNormalize lives outside the model) and missing action post-processing (clip or unscale, mask). Here the
normaliser comes from the run's VecNormalize statistics and the head reproduces `predict(deterministic=True)`:
argmax of logits or Q-values (QR-DQN: of the quantile mean), Box actions clipped or tanh-rescaled, and the mask
obeyed the way the agent trained: MaskablePPO's masked argmax, or for algorithms without masks the nearest valid
action that `sysgym train`'s valid-action wrapper (and its eval adapter) substitute.
Only the policy path is kept (no value head, no target network), which keeps artifacts small.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import QRDQN, MaskablePPO
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.dqn import DQN
from torch import nn

from sysgym.runtime.policy.program import ArtifactError, Dense, Head, Normaliser, PolicyMetadata, PolicyProgram

_ACTIVATIONS: dict[type[nn.Module], str] = {
    nn.Tanh: "tanh",
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.ELU: "elu",
    nn.Sigmoid: "sigmoid",
    nn.SiLU: "silu",
    nn.Identity: "identity",
}


def _array(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy().astype(np.float32))


def _layers(modules: list[nn.Module]) -> list[Dense]:
    """Linear layers with the activation that follows each (SB3's `create_mlp` shape)."""
    layers: list[Dense] = []
    for module in modules:
        if isinstance(module, nn.Sequential):
            layers += _layers(list(module))
        elif isinstance(module, nn.Linear):
            bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
            layers.append(Dense(_array(module.weight), _array(bias), "identity"))
        elif type(module) in _ACTIVATIONS:
            name = _ACTIVATIONS[type(module)]
            if name == "identity":
                continue
            if not layers or layers[-1].activation != "identity":
                raise ArtifactError(f"activation {type(module).__name__} does not follow a linear layer")
            alpha = float(getattr(module, "negative_slope", getattr(module, "alpha", 0.0)))
            last = layers.pop()
            layers.append(Dense(last.weight, last.bias, name, alpha))
        else:
            raise ArtifactError(f"cannot export a {type(module).__name__} layer (linear layers and activations only)")
    return layers


def _check_extractor(extractor: nn.Module, space: gym.Space[Any]) -> None:
    if not isinstance(extractor, FlattenExtractor) or not isinstance(space, gym.spaces.Box):
        raise ArtifactError(
            f"cannot export a {type(extractor).__name__} on a {type(space).__name__} observation space: "
            "exported policies are MLPs on Box observations (SB3's MlpPolicy)"
        )


def _network(model: BaseAlgorithm) -> list[Dense]:
    """The layers from the flattened observation to the scores the head reads."""
    policy: Any = model.policy
    if isinstance(model, QRDQN):
        net = policy.quantile_net
        _check_extractor(net.features_extractor, model.observation_space)
        layers = _layers(list(net.quantile_net))
        last = layers[-1]
        n_actions, quantiles = int(model.action_space.n), int(net.n_quantiles)  # type: ignore[attr-defined]
        # quantiles.view(-1, Q, A).mean(dim=1) is linear in the last layer: fold the mean into its weights.
        weight = last.weight.reshape(quantiles, n_actions, -1).mean(axis=0, dtype=np.float64).astype(np.float32)
        bias = last.bias.reshape(quantiles, n_actions).mean(axis=0, dtype=np.float64).astype(np.float32)
        return [*layers[:-1], Dense(weight, bias, last.activation, last.alpha)]
    if isinstance(model, DQN):
        net = policy.q_net
        _check_extractor(net.features_extractor, model.observation_space)
        return _layers(list(net.q_net))
    if isinstance(policy, ActorCriticPolicy | MaskableActorCriticPolicy):
        _check_extractor(policy.pi_features_extractor, model.observation_space)
        return _layers([policy.mlp_extractor.policy_net, policy.action_net])
    raise ArtifactError(f"cannot export {type(model).__name__} with a {type(policy).__name__}")


def _head(model: BaseAlgorithm) -> Head:
    space = model.action_space
    rule = "masked_argmax" if isinstance(model, MaskablePPO) else "nearest_valid"
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete) and np.any(space.start):
        raise ArtifactError(f"SB3 ignores the start offset of {space}: such a model cannot act in its env")
    if isinstance(space, gym.spaces.Discrete):
        return Head("argmax", nvec=(int(space.n),), mask_rule=rule)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return Head("multi_argmax", nvec=tuple(int(n) for n in space.nvec.reshape(-1)), mask_rule=rule)
    if isinstance(space, gym.spaces.Box):
        squash = bool(getattr(model.policy, "squash_output", False))
        return Head("box", low=space.low.astype(np.float32), high=space.high.astype(np.float32), squash=squash)
    raise ArtifactError(f"cannot export actions of a {type(space).__name__} space")


def _normaliser(stats: VecNormalize | None) -> Normaliser | None:
    if stats is None or not stats.norm_obs:
        return None
    rms = stats.obs_rms
    if isinstance(rms, dict):
        raise ArtifactError("cannot export normalisation of Dict observations")
    std = np.sqrt(rms.var.astype(np.float64) + stats.epsilon)
    return Normaliser(rms.mean.astype(np.float64).reshape(-1), std.reshape(-1), float(stats.clip_obs))


def program_from_model(model: BaseAlgorithm, stats: VecNormalize | None, metadata: PolicyMetadata) -> PolicyProgram:
    """The `PolicyProgram` computing `model`'s deterministic action on raw env observations."""
    model.policy.set_training_mode(False)
    with torch.no_grad():
        return PolicyProgram(metadata, _normaliser(stats), tuple(_network(model)), _head(model))
