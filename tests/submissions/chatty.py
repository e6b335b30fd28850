"""Prints far too much and fills the disk: both are contained, the answer still arrives."""
for i in range(100_000):
    print("spam", i)

try:
    with open("big.bin", "wb") as f:
        for _ in range(200):
            f.write(b"\0" * 2**20)
    wrote_mb = 200.0
except OSError:
    wrote_mb = -1.0
answer = 7
