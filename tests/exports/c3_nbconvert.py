#!/usr/bin/env python
# coding: utf-8

# In[1]:


import torch


# ## Ejercicio 1

# In[2]:


x = torch.tensor(2., requires_grad=True)
y = x**3
y.backward()
derivada = x.grad


# ## Ejercicio 2

# In[3]:


x = torch.tensor(0., requires_grad=True)
y = torch.sin(x)
y.backward()
derivada = x.grad
