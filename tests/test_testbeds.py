"""engine/testbeds.py: the sliced distance's sort equals torch.sort bit for bit (NaN and infinities
included) and keeps the graph where a gradient is needed."""
import pytest
import torch

from engine.testbeds import sort_dim1


@pytest.mark.parametrize("shape", [(8, 1000, 32), (3, 7, 2), (1, 1, 1)])
def test_sort_dim1_equals_torch_sort_bit_for_bit(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0] = float("nan")
    if shape[1] > 2:
        x[0, 1, 0], x[0, 2, 0] = float("-inf"), float("inf")
    want, got = torch.sort(x, dim=1).values, sort_dim1(x)
    assert torch.equal(want.isnan(), got.isnan())  # NaN sorts last in both
    assert torch.equal(want.nan_to_num(7.0), got.nan_to_num(7.0))
    assert got.dtype == x.dtype and got.shape == x.shape


def test_sort_dim1_keeps_torch_sort_for_gradients():
    x = torch.randn(2, 5, 3, requires_grad=True)
    y = sort_dim1(x)
    y.sum().backward()  # a NumPy sort would have cut the graph
    assert torch.equal(x.grad, torch.ones_like(x))
