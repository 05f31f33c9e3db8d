"""Session fixtures: a tiny GGUF (the real CPU llama-bench fixture is in tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gguf_writer import write_llama_gguf  # noqa: E402


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_llama_gguf(tmp_path_factory.mktemp("models") / "tiny-f16.gguf", n_layer=4, n_embd=512, n_vocab=4096)
