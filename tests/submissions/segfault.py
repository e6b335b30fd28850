import ctypes

answer = 1
ctypes.string_at(0)
