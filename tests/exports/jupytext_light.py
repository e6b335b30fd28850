# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: light
#       format_version: '1.5'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# # Práctica 5
#
# Derivadas con autograd.

import torch

# ## Ejercicio 1

x = torch.tensor(2., requires_grad=True)
y = x**3
y.backward()
derivada = x.grad


# ## Ejercicio 2
#
# Ahora el seno.

# +
def f(x):
    """El seno."""
    return torch.sin(x)


x = torch.tensor(0., requires_grad=True)
y = f(x)
# -

y.backward()
derivada = x.grad
derivada
