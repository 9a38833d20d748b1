"""Seed 001 ("Pytorch学习(一) 自动求导机制"): excluding subgraphs from backward, fine-tuning a classifier."""
from conftest import run_program


def test_requires_grad_is_false_by_default_and_propagates():
    out, _ = run_program("""
        import graphgrad as torch
        x = torch.randn(3, 3) # requires_grad=False by default
        y = torch.randn(3, 3)
        z = torch.randn(3, 3, requires_grad= True)

        a = x + y
        print(a.requires_grad) # False

        b = z + a
        print(b.requires_grad) # True
    """, seed=0)
    assert out == "False\nTrue\n"


def test_optimize_only_the_classifier(fake_torchvision):
    # resnet18(pretrained=True) is conftest.SmallResNet: the same `.fc` head of 512 features, no download.
    _, ns = run_program("""
        import graphgrad as torch
        import graphgrad.nn as nn
        import graphgrad.optim as optim
        import torchvision
        model = torchvision.models.resnet18(pretrained=True)
        for param in model.parameters():
            param.requires_grad = False # 切换模式
        # Replace the last fully-connected layer
        # Parameters of newly constructed modules have requires_grad=True by default
        model.fc = nn.Linear(512, 100)

        # Optimize only the classifier
        optimizer = optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)
    """, seed=0)
    model, optimizer = ns["model"], ns["optimizer"]
    params = optimizer.param_groups[0]["params"]
    assert [p is q for p, q in zip(params, [model.fc.weight, model.fc.bias])] == [True, True]
    assert optimizer.param_groups[0]["lr"] == 1e-2 and optimizer.param_groups[0]["momentum"] == 0.9
    assert all(not p.requires_grad for name, p in model.named_parameters() if not name.startswith("fc."))
    assert tuple(model.fc.weight.shape) == (100, 512)
