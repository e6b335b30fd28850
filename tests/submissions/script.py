import torch

x = torch.tensor([2.0, 3.0], requires_grad=True)
f = x[0] ** 2 * (x[0] + x[1])
f.backward()
grad_f = x.grad

if __name__ == "__main__":
    ran_as_main = True
