"""Declared background loads for `vtt bench serve-load` (seed test 9: the editor plus build tools).

  compile  every worker burns CPU the way a compiler does: builds and hashes many small objects,
           allocating and freeing memory all the time (integer and pointer work, cache misses)
  membw    every worker streams large arrays through memory (numpy copies of MIB-sized buffers):
           a memory-bandwidth hog, the resource token generation itself is bound by

Bounded in time: each worker stops after SECONDS, and the caller kills the group anyway.
Usage: python -m vtt.harness.serve_background compile|membw SECONDS WORKERS [MIB]
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import sys
import time


def compile_like(seconds: float) -> None:
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        nodes = [{"name": f"sym{i}_{j}", "kids": list(range(j % 17))} for j in range(2000)]
        blob = "".join(n["name"] for n in nodes).encode()
        hashlib.sha256(blob).hexdigest()
        i += 1


def membw(seconds: float, mib: int) -> None:
    import numpy as np

    a = np.ones(mib * 1024 * 1024 // 8)
    b = np.empty_like(a)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        np.copyto(b, a)
        np.copyto(a, b)


def main(argv: list[str]) -> int:
    kind, seconds, workers = argv[0], float(argv[1]), int(argv[2])
    mib = int(argv[3]) if len(argv) > 3 else 256
    target, args = (compile_like, (seconds,)) if kind == "compile" else (membw, (seconds, mib))
    procs = [mp.Process(target=target, args=args) for _ in range(workers)]
    for p in procs:
        p.start()
    print("started", flush=True)
    for p in procs:
        p.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
