"""Seed 000 ("pytorch Basics"): Variable, gradients accumulating, requires_grad propagation, fine-tuning."""
import warnings

import numpy as np
import pytest

from conftest import document_block, run_program


def test_variable_gradient_example_prints_the_document_output():
    # The document shows y's printout but its listing dropped the line creating it; `y = x + 2` is the line
    # of the PyTorch tutorial it copies, and the prints are those whose output it shows.
    out, ns = run_program("""
        import graphgrad as torch
        from graphgrad.autograd import Variable # Variable module in torch
        x = Variable(torch.ones(2, 2), requires_grad=True)
        print(x)
        y = x + 2
        print(y)
        # Parameter requires_grad indicates whether this variable is involved in calculating gradients
        z = y * y * 3
        out = z.mean()# Mean
        print(z)
        print(out)
        out.backward() # Calculate all dout/dz,dout/dy,dout/dx
        print(x.grad) # x.grad is dout/dx
    """)
    assert out == document_block("""
        tensor([[1., 1.],
                [1., 1.]], requires_grad=True)
        tensor([[3., 3.],
                [3., 3.]], grad_fn=<AddBackward0>)
        tensor([[27., 27.],
                [27., 27.]], grad_fn=<MulBackward0>)
        tensor(27., grad_fn=<MeanBackward0>)
        tensor([[4.5000, 4.5000],
                [4.5000, 4.5000]])
    """)
    # "Can try, if not out.backward(), ... the result will be None"; a second backward accumulates.
    assert ns["x"].grad is not None
    fresh = run_program("""
        import graphgrad as torch
        from graphgrad.autograd import Variable
        x = Variable(torch.ones(2, 2), requires_grad=True)
        out = ((x + 2) * (x + 2) * 3).mean()
    """)[1]
    assert fresh["x"].grad is None


def test_requires_grad_propagates_through_operations():
    _, ns = run_program("""
        import graphgrad as torch
        from graphgrad.autograd import Variable
        x = Variable(torch.randn(5, 3))
        y = Variable(torch.randn(5, 3))
        z = Variable(torch.randn(5, 3), requires_grad=True)
        a = x + y
        b = a + z
    """, seed=0)
    assert ns["a"].requires_grad is False and ns["a"].grad_fn is None
    assert ns["b"].requires_grad is True and ns["b"].grad_fn.name() == "AddBackward0"


def test_volatile_is_accepted_with_a_warning_and_has_no_effect():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, ns = run_program("""
            import graphgrad as torch
            from graphgrad.autograd import Variable
            x = Variable(torch.ones(2), volatile=True)
            w = torch.ones(2, requires_grad=True)
            y = x * w  # a volatile input no longer stops gradients
        """)
    assert [str(w.message) for w in caught] == [
        "volatile was removed and now has no effect. Use `with torch.no_grad():` instead."]
    assert ns["y"].requires_grad
    with pytest.warns(UserWarning), \
            pytest.raises(ValueError, match="Variable can't be volatile and require_grad at the same time!"):
        run_program("""
            import graphgrad as torch
            from graphgrad.autograd import Variable
            Variable(torch.ones(2), requires_grad=True, volatile=True)
        """)


def test_fine_tuning_trains_only_the_new_head(fake_torchvision):
    # torchvision.models.resnet18(pretrained=True) is replaced by conftest.SmallResNet (no weight downloads);
    # the program below is the document's, plus a few training steps to show only the head moves.
    out, ns = run_program("""
        import graphgrad as torch
        import graphgrad.nn as nn
        import torchvision
        model = torchvision.models.resnet18(pretrained=True)
        for param in model.parameters():
          param.requires_grad = False
        # Replace the last full connection layer with the newly constructed one
        # By default, requires_of newly constructed modules Grad=True
        model.fc = nn.Linear(512, 100)

        # The optimizer adjusts only the parameters of the newly constructed fully connected layer.
        optimizer = torch.optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)
    """, seed=0)
    import graphgrad as gg

    model, optimizer = ns["model"], ns["optimizer"]
    frozen = {name: p.detach().numpy().copy() for name, p in model.named_parameters() if not name.startswith("fc.")}
    head = model.fc.weight.detach().numpy().copy()
    data, target = gg.rand(4, 3, 64, 64), gg.randint(0, 100, (4,))
    losses = []
    for _ in range(5):
        loss = gg.nn.functional.cross_entropy(model(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    for name, p in model.named_parameters():
        if not name.startswith("fc."):
            assert p.grad is None, name
            np.testing.assert_array_equal(p.detach().numpy(), frozen[name])
    assert not np.array_equal(model.fc.weight.detach().numpy(), head)
    assert losses[-1] < losses[0]
