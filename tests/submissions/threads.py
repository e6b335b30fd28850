import threading

import torch

torch.set_num_threads(4)
a = torch.rand(300, 300)
product_ok = float(torch.allclose(a @ a, (a.double() @ a.double()).float(), atol=1e-3))
results = []
workers = [threading.Thread(target=lambda: results.append(1)) for _ in range(8)]
for w in workers:
    w.start()
for w in workers:
    w.join()
n_threads_ran = len(results)
