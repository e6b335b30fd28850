import torch

before = 1
big = torch.ones(10**11)
