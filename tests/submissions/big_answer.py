import torch

big = torch.arange(300_000, dtype=torch.float64)
