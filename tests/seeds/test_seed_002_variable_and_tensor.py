"""Seed 002 ("requires_grad() after merging Variable and Tensor"): torch.range, Variable's data check,
FloatTensor, requires_grad_() and the official autograd example.

The document's printouts are garbled by its web page ("Tensor ([[1, 2, 3.]"); the assertions use the text
PyTorch itself prints for these tensors.
"""
import warnings

import pytest

from conftest import document_block, run_program


def test_range_then_requires_grad_():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, _ = run_program("""
            import graphgrad as torch
            from graphgrad.autograd import Variable # must call the library
            lis=torch.range(1,6).reshape((-1,3)) # create a 1x6 shape
            print(lis)
            print(lis.requires_grad)
            lis.requires_grad_()
            print(lis.requires_grad)
            print(lis)
        """)
    assert out == document_block("""
        tensor([[1., 2., 3.],
                [4., 5., 6.]])
        False
        True
        tensor([[1., 2., 3.],
                [4., 5., 6.]], requires_grad=True)
    """)
    assert any("torch.range is deprecated" in str(w.message) for w in caught)


def test_variable_requires_tensor_data():
    with pytest.raises(TypeError, match="^Variable data has to be a tensor, but got range$"):
        run_program("""
            import graphgrad as torch
            from graphgrad.autograd import Variable
            a=Variable(range(6)).reshape((-1,3))
        """)


def test_float_tensor_through_variable():
    out, _ = run_program("""
        import graphgrad as torch
        from graphgrad.autograd import Variable
        tensor=torch.FloatTensor(range(8)).reshape((-1,4))
        my_ten=Variable(tensor)
        print(my_ten)
        print(my_ten.requires_grad)
        my_ten.requires_grad_()
        print(my_ten.requires_grad)
    """)
    assert out == document_block("""
        tensor([[0., 1., 2., 3.],
                [4., 5., 6., 7.]])
        False
        True
    """)


def test_official_example_backward_needs_a_tensor_that_requires_grad():
    out, ns = run_program("""
        import graphgrad as torch
        x = torch.ones(1) # create a tensor with requires_grad=False (default)
        print(x.requires_grad)
        y = torch.ones(1) # another tensor with requires_grad=False
        z = x + y
        print(z.requires_grad)
        try:
            z.backward()
        except RuntimeError as e:
            print("RuntimeError:", e)
        w = torch.ones(1, requires_grad = True)
        print(w.requires_grad)
        total = w + z
        print(total.requires_grad)
        total.backward()
        print(w.grad)
        print(z.grad == x.grad == y.grad == None)
        existing_tensor = torch.ones(2)
        existing_tensor.requires_grad_()
        print(existing_tensor.requires_grad)
        my_tensor = torch.zeros(3, 4, requires_grad = True)
        print(my_tensor.requires_grad)
    """)
    assert out == document_block("""
        False
        False
        RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
        True
        True
        tensor([1.])
        True
        True
        True
    """)
