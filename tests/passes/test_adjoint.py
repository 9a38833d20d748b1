

def test_grad_of_a_function_reading_a_numpy_constant():
    """A NumPy array closed over by a traced function is a constant node; adjoint generation replays it (it
    raised StopIteration: a node without tensor operands named no trace)."""
    import numpy as np

    import graphgrad as gg

    u = np.array([1.0, 2.0])
    assert gg.grad(lambda x: (x * x * u).sum())(np.array([3.0, 4.0])).tolist() == [6.0, 16.0]


def test_second_order_through_a_gradient_shared_by_two_inputs():
    """d/dx of grad_y f where grad_x f and grad_y f are one value: the second output's own node must
    differentiate as the identity (it was a stop_gradient, so the second derivative came out zero)."""
    import numpy as np

    import graphgrad as gg

    def f(x, y):
        return ((x + y) ** 2).sum()

    x, y = np.array([1.0, 2.0]), np.array([0.5, 0.5])
    second = gg.grad(lambda x, y: gg.grad(f, argnums=(0, 1))(x, y)[1].sum())(x, y)
    assert second.tolist() == [2.0, 2.0]  # d/dx sum(2 (x + y))
