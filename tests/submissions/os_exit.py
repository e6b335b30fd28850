import os

answer = 1
os._exit(3)
