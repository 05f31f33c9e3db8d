"""Run llama-fit-params with its whole log: `python -m vtt.harness.fit_params_run BIN_DIR ARGS...`.

Why by hand: llama.cpp's common logger writes from a worker thread, and `common_log_main()` is a
leaked static pointer, so nothing drains its queue when `main` returns (common/log.cpp, pinned
sdist). The lines printed after `common_fit_print` starts (KV cache, compute buffers, the
breakdown) are lost at random: 10 % of runs on an idle 2-core box, 70 % with both cores busy.
This child calls the same entry point the binary's `main` calls (libllama-fit-params-impl.so),
then `common_log_flush(common_log_main())` (pause joins the worker after it wrote every queued
line), then flushes C stdio. Run as its own process so a crash inside llama.cpp stays there.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

# Itanium-mangled names of the pinned build's exported C++ functions (nm -D --defined-only).
ENTRY = "_Z16llama_fit_paramsiPPc"  # int llama_fit_params(int, char **)
LOG_MAIN = "_Z15common_log_mainv"  # common_log * common_log_main()
LOG_FLUSH = "_Z16common_log_flushP10common_log"  # void common_log_flush(common_log *)


def libraries(bin_dir: Path) -> tuple[Path, Path] | None:
    """The two shared libraries this needs, or None (a static or older build: use the binary)."""
    impl, common = bin_dir / "libllama-fit-params-impl.so", bin_dir / "libllama-common.so"
    return (impl, common) if impl.is_file() and common.is_file() else None


def main(argv: list[str]) -> int:
    bin_dir, args = Path(argv[0]), argv[1:]
    found = libraries(bin_dir)
    if found is None:
        print(f"no libllama-fit-params-impl.so beside {bin_dir}", file=sys.stderr)
        return 3
    mode = ctypes.RTLD_GLOBAL
    common = ctypes.CDLL(str(found[1]), mode=mode)
    impl = ctypes.CDLL(str(found[0]), mode=mode)
    entry = getattr(impl, ENTRY)
    entry.argtypes, entry.restype = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)], ctypes.c_int
    log_main = getattr(common, LOG_MAIN)
    log_main.restype = ctypes.c_void_p
    log_flush = getattr(common, LOG_FLUSH)
    log_flush.argtypes = [ctypes.c_void_p]
    words = [b"llama-fit-params"] + [a.encode() for a in args]
    c_argv = (ctypes.c_char_p * (len(words) + 1))(*words, None)
    rc = entry(len(words), c_argv)
    log_flush(log_main())
    ctypes.CDLL(None).fflush(None)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip static destructors: the binary never runs them either (the logger thread is still alive).
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
