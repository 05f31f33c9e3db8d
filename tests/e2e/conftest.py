"""Session fixtures: the real CPU llama-bench (built or reused by `vtt bench install`) and a tiny GGUF."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gguf_writer import write_llama_gguf  # noqa: E402


@pytest.fixture(scope="session")
def llama_bench() -> str:
    from vtt.harness.locate import install_llama_bench

    # Cached here; on a fresh CI machine this builds (~6 min on 2 cores). Never skipped.
    return install_llama_bench("cpu")["llama_bench"]


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_llama_gguf(tmp_path_factory.mktemp("models") / "tiny-f16.gguf", n_layer=4, n_embd=512, n_vocab=4096)
