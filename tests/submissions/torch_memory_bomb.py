import torch
big = torch.ones(10**11)
