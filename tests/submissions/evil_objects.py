"""Objects that lie: none of them may be turned into numbers, and none of their code may run."""
import os

import numpy as np
import torch


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/verifier_pwned_by_reduce",))

    def __eq__(self, other):
        return True

    def __float__(self):
        return 24.0

    def __array__(self, *args, **kwargs):
        return np.array([24.0, 4.0])

    def __iter__(self):
        return iter([24.0, 4.0])

    def __len__(self):
        return 2


class LyingFloat(float):
    def __eq__(self, other):
        return True

    def __float__(self):
        return 24.0


class LyingList(list):
    def __eq__(self, other):
        return True


class MyTensor(torch.Tensor):
    pass


payload = Payload()
lying_float = LyingFloat(3.0)
lying_list = LyingList([24.0, 4.0])
object_array = np.array([Payload(), 1.0], dtype=object)
tensor_subclass = torch.tensor([24.0, 4.0]).as_subclass(MyTensor)
parameter = torch.nn.Parameter(torch.tensor([24.0, 4.0]))
nested_with_payload = [1.0, Payload()]
cyclic = []
cyclic.append(cyclic)
ragged = [[1.0, 2.0], [3.0]]
mixed = [torch.tensor(1.0), np.float32(2.5), 3, True]
complex_eigs = np.linalg.eigvals(np.array([[0.0, -1.0], [1.0, 0.0]]))
big_int = 10**400
