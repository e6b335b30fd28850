# %%
import torch

# %% [markdown]
# ## Ejercicio 1

# %%
x = torch.tensor(2., requires_grad=True)
y = x**3
y.backward()
derivada = x.grad

# %% [markdown]
# ## Ejercicio 2

# %%
x = torch.tensor(0., requires_grad=True)
y = torch.sin(x)
y.backward()
derivada = x.grad
