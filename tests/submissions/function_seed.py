import torch


def f(x):
    return x[0] ** 2 * (x[0] + x[1])


def two_args(x, y):
    return (x ** 2).sum() * y


def not_a_tensor(x):
    return 3.0


def vector_valued(x):
    return x * 2


def raises(x):
    raise ValueError("nope")


def loops(x):
    while True:
        pass


torch.set_grad_enabled(False)  # a student leaving grad mode off must not break the grader
