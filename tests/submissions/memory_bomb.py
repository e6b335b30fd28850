before = 1
x = bytearray(10**11)
