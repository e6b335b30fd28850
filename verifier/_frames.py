"""Frames between the sandbox processes: a 4-byte big-endian length, then UTF-8 JSON.

Standard library only, so the grader, the zygote and the child all import it without
importing each other (and without loading torch).
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

MAX_FRAME = 64 * 1024 * 1024


def send_frame(fd: int, obj: Any) -> None:
    """Write ``obj`` as one frame to ``fd``; raises OSError if the reader is gone."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(struct.pack(">I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Accumulates bytes and yields complete JSON frames; raises ValueError on garbage.

    ``limit`` caps the total number of bytes fed, so a child cannot make the reader hold
    more than that in memory.
    """

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self.buf, self.limit, self.total = bytearray(), limit, 0

    def feed(self, chunk: bytes) -> list[Any]:
        self.total += len(chunk)
        if self.total > self.limit:
            raise ValueError(f"more than {self.limit} bytes")
        self.buf += chunk
        frames = []
        while len(self.buf) >= 4:
            (n,) = struct.unpack(">I", self.buf[:4])
            if len(self.buf) < 4 + n:
                break
            try:
                frames.append(json.loads(bytes(self.buf[4 : 4 + n])))
            except RecursionError:
                raise ValueError("JSON nested too deeply") from None
            del self.buf[: 4 + n]
        return frames
