import pytest
import torch

from sysgym.runtime.preemption.kvpool import BlockAllocator, PagedKV, PoolShape, runs

SHAPE = PoolShape(layers=2, kv_heads=2, head_dim=8, block_tokens=4, gpu_blocks=32, host_blocks=32)


@pytest.mark.parametrize("layout", ["block", "group", "gather"])
def test_swap_out_and_back_in_restores_every_block(layout: str) -> None:
    pool = PagedKV(SHAPE, "cpu")
    ids = pool.gpu_alloc.allocate(5)
    pool.fill(ids, 7)
    reference = [[t[ids].clone() for t in layer] for layer in pool.gpu]
    host = pool.host_alloc.allocate(5)
    assert pool.swap(ids, host, "out", layout) >= 0.0
    for layer in pool.gpu:
        for tensor in layer:
            tensor.zero_()
    target = [9, 10, 11, 20, 21]
    pool.swap(host, target, "in", layout)
    for i, layer in enumerate(pool.gpu):
        for j, tensor in enumerate(layer):
            assert torch.equal(tensor[target], reference[i][j])


def test_allocator_prefers_contiguous_runs() -> None:
    alloc = BlockAllocator(10)
    first = alloc.allocate(4)
    second = alloc.allocate(3)
    alloc.release(first)
    assert runs(alloc.allocate(5)) == [(0, 4), (7, 1)]
    assert runs(second) == [(4, 3)]
    with pytest.raises(MemoryError):
        alloc.allocate(99)


def test_mismatched_lists_are_refused() -> None:
    pool = PagedKV(SHAPE, "cpu")
    with pytest.raises(ValueError, match="differ"):
        pool.swap([0, 1], [0], "out", "block")
