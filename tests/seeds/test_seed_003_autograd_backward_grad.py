"""Seed 003 ("PyTorch 简介"): backward with gradient/retain_graph, hooks and retain_grad on non-leaves,
training loops, fine-tuning, autograd.grad to second order, grad-mode context managers."""
import numpy as np
import pytest

from conftest import document_block, run_program


def test_gradient_and_retain_graph():
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        out, _ = run_program("""
            import graphgrad as torch

            x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], requires_grad=True)  # x 需要被求导
            a = torch.tensor(1.0)
            b = torch.tensor(-2.0)
            c = torch.tensor(1.0)
            y = a * torch.pow(x, 2) + b * x + c  # f(x) = a*x**2 + b*x + c

            gradient = torch.tensor([[1.0, 1.0], [1.0, 2.0]])
            y.backward(gradient=gradient, retain_graph=True)  # 转换成标量来进行反向传播:torch.sum(y*gradient).backward()

            print("y_grad:\\n", y.grad)  # None
            print("x_grad:\\n", x.grad)
            y.backward(gradient=gradient)
            print("x_grad:\\n", x.grad)  # retain_graph=True 会出现梯度累积
        """)
    assert out == document_block("""
        y_grad:
         None
        x_grad:
         tensor([[-2., -2.],
                [ 0.,  4.]])
        x_grad:
         tensor([[-4., -4.],
                [ 0.,  8.]])
    """)


def test_hooks_and_retain_grad_on_non_leaves():
    out, _ = run_program("""
        import graphgrad as torch

        # 正向传播
        x = torch.tensor(3.0, requires_grad=True)
        y1 = x + 1
        y2 = 2 * x
        loss = (y1 - y2) ** 2

        y1.register_hook(lambda grad: print('y1.register_hook grad: ', grad))
        y2.register_hook(lambda grad: print('y2.register_hook grad: ', grad))
        y1.retain_grad()
        y2.retain_grad()
        loss.retain_grad()

        # 反向传播
        loss.backward()  # 通过 register_hook 可以查看非叶子节点的梯度值
        print("loss.grad:", loss.grad)
        print("y1.grad:", y1.grad)
        print("y2.grad:", y2.grad)
        print("x.grad:", x.grad)
    """)
    # y2 was created after y1, so its node runs first, as in PyTorch's engine
    assert out == document_block("""
        y2.register_hook grad:  tensor(4.)
        y1.register_hook grad:  tensor(-4.)
        loss.grad: tensor(1.)
        y1.grad: tensor(-4.)
        y2.grad: tensor(4.)
        x.grad: tensor(4.)
    """)


# torchvision.models.resnet18(weights=...) is conftest.SmallResNet here: same `.fc` head, no weight download.
TRAINING = """
    import graphgrad as torch
    import torchvision

    # 生成数据
    data = torch.rand(1, 3, 64, 64)
    labels = torch.rand(1, 1000)

    # 构建模型
    model = torchvision.models.resnet18(weights="ResNet18_Weights.DEFAULT")

    # 指定参数学习算法
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

    # 模型训练
    for i in range(500):
        # 前向传播 [1, 1000]
        prediction = model(data)

        # 计算 loss:使用 .sum() 方法求和,loss 是一个标量
        loss = (prediction - labels).sum()  # 通常使用 loss = criterion(outputs, labels),返回标量

        # 反向传播 loss
        loss.backward()

        # 参数更新:调用 .step() 启动梯度下降,优化器通过.grad 中存储的梯度来调整每个参数
        optimizer.step()

        # 清空梯度
        optimizer.zero_grad()
        print("iter {}".format(i))
"""


def test_training_loop(fake_torchvision):
    import graphgrad as gg

    gg.manual_seed(0)  # replay the program's draws to get its initial model
    data, labels = gg.rand(1, 3, 64, 64), gg.rand(1, 1000)
    initial = fake_torchvision.models.resnet18()
    out, ns = run_program(TRAINING, seed=0)
    assert out == "".join(f"iter {i}\n" for i in range(500))
    model = ns["model"]
    assert all(p.grad is None for p in model.parameters())  # zero_grad() sets to None by default
    # the document's loss, sum(prediction - labels), is unbounded below: 500 SGD steps drive it to -inf (and
    # then nan) in PyTorch as here, so what is checked is that every parameter was trained ...
    for (name, p), q in zip(model.named_parameters(), initial.parameters()):
        assert not np.array_equal(p.detach().numpy(), q.detach().numpy()), name
    # d loss / d fc.bias is 1 at every step, so SGD with momentum 0.9 moves the bias by
    # lr * sum_t (1 - 0.9**t) / (1 - 0.9) in total: a closed form for the whole loop
    shift = 1e-2 * sum((1 - 0.9 ** t) / (1 - 0.9) for t in range(1, 501))
    np.testing.assert_allclose(model.fc.bias.detach().numpy(), initial.fc.bias.detach().numpy() - shift, rtol=1e-5)


FINE_TUNING = """
    import graphgrad as torch
    import torchvision

    # 生成数据
    data = torch.rand(1, 3, 64, 64)
    labels = torch.rand(1, 10)

    # 构建模型
    model = torchvision.models.resnet18(weights="ResNet18_Weights.DEFAULT")

    for param in model.parameters():
        param.requires_grad = False

    # Replace the last fully-connected layer
    # Parameters of newly constructed modules have requires_grad=True by default
    model.fc = torch.nn.Linear(512, 10)  # 1000-->10 类

    # 指定参数学习算法:Optimize only the classifier
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)  # 只更新 fc 层进行 finetune

    # 模型训练
    for i in range(500):
        # 前向传播 [1, 10]
        prediction = model(data)

        # 计算 loss:使用 .sum() 方法求和,loss 是一个标量
        loss = (prediction - labels).sum()

        # 反向传播 loss
        loss.backward()

        # 参数更新
        optimizer.step()

        print("iter {}".format(i))
"""


def test_fine_tuning_updates_only_the_head(fake_torchvision):
    import graphgrad as gg

    gg.manual_seed(0)  # replay the program's draws: same seed -> same initial body as the program's model
    gg.rand(1, 3, 64, 64), gg.rand(1, 10)
    reference = fake_torchvision.models.resnet18()
    out, ns = run_program(FINE_TUNING, seed=0)
    assert out == "".join(f"iter {i}\n" for i in range(500))
    model = ns["model"]
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        if not name.startswith("fc."):
            assert not p.requires_grad and p.grad is None, name
            np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # the program never zeroes gradients, so they accumulate: d(sum)/d(bias) is 1 per step
    np.testing.assert_allclose(model.fc.bias.grad.numpy(), np.full(10, 500.0))


def test_autograd_grad_second_order():
    out, _ = run_program("""
        import graphgrad as torch

        x = torch.tensor(0.0, requires_grad=True)  # x 需要被求导
        a = torch.tensor(1.0)
        b = torch.tensor(-2.0)
        c = torch.tensor(1.0)
        y = a * torch.pow(x, 2) + b * x + c  # f(x) = ax**2 + bx + c

        # create_graph 设置为 True 将允许创建更高阶的导数
        dy_dx = torch.autograd.grad(y, x, create_graph=True)[0]  # f(x)' = 2ax+b
        print(dy_dx.data)  # tensor(-2.)

        # 求二阶导数
        dy2_dx2 = torch.autograd.grad(dy_dx, x)[0]  # f(x)" = 2
        print(dy2_dx2.data)  # tensor(2.)
    """)
    assert out == "tensor(-2.)\ntensor(2.)\n"


def test_grad_mode_context_managers():
    _, ns = run_program("""
        import graphgrad as torch
        x = torch.zeros(1, requires_grad=True)
        with torch.no_grad():
            y = x * 2
        first = y.requires_grad

        is_train = False
        with torch.set_grad_enabled(is_train):
            y = x * 2
        second = y.requires_grad
    """)
    assert ns["first"] is False and ns["second"] is False
