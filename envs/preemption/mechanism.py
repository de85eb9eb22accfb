"""Context-switching mechanisms: how a preemption moves (or drops) a request's KV, as vLLM and FastSwitch do it.

The scheduling policy (who runs) is the agent's; the mechanism (what a preemption costs) is an env parameter, so
the same priorities can be replayed under vLLM's and FastSwitch's switching, which is the paper's comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.preemption.swapcost import Layout


@dataclass(frozen=True)
class Mechanism:
    """One switching mechanism.

    Attributes:
        name: registered name.
        recompute: preempted requests drop their KV and prefill it again instead of swapping.
        layout: copy layout of a swap (`block`, `group`, `gather`).
        group_blocks: blocks per contiguous group for the `group` layout.
        asynchronous: swaps run on their own stream and thread, overlapping compute (with contention); a
            request needed by the batch waits for its own swap-in only.
        reuse: a conversation's host KV copy stays valid: later swap-outs move only new blocks, and a new turn
            swaps its earlier turns' KV in instead of prefilling it again.
        native: copies are issued outside the Python interpreter.
        threads: issuing threads.
    """

    name: str
    recompute: bool = False
    layout: Layout = "block"
    group_blocks: int = 1
    asynchronous: bool = False
    reuse: bool = False
    native: bool = False
    threads: int = 1


MECHANISMS: dict[str, Mechanism] = {
    "vllm": Mechanism("vllm"),
    "vllm-recompute": Mechanism("vllm-recompute", recompute=True),
    "groups": Mechanism("groups", layout="group", group_blocks=32, native=True),
    "groups-async": Mechanism("groups-async", layout="group", group_blocks=32, native=True, asynchronous=True),
    "fastswitch": Mechanism(
        "fastswitch", layout="group", group_blocks=32, native=True, asynchronous=True, reuse=True, threads=4
    ),
}


def mechanism(name: str) -> Mechanism:
    """The named mechanism; unknown names list the known ones."""
    if name not in MECHANISMS:
        raise UnknownNameError("switching mechanism", name, list(MECHANISMS))
    return MECHANISMS[name]
