"""The models validation/serve/run_gpu.sh serves: random-weight llama GGUFs llama-server can load
(byte-level BPE vocabulary, ChatML template), written the same way on the GPU machine and here for
the predictions (same seed, same bytes).

Usage: python validation/serve/models.py list | write DIR NAME"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
from serve_models import write_chat_gguf  # noqa: E402

# head dim 128 (Vulkan flash attention supports it); F16 weights
MODELS = {
    "chat-1b-f16": dict(n_layer=16, n_embd=2048, n_head=16, n_kv=4, n_ff=5632, n_ctx_train=131072),
}
# a dry run of the script on a CPU box: SERVE_MODELS=chat-tiny (not predicted)
EXTRA = {"chat-tiny": dict(n_layer=2, n_embd=256)}


def write(directory: str | Path, name: str) -> Path:
    out = Path(directory) / f"{name}.gguf"
    if not out.exists():
        write_chat_gguf(out, **{**MODELS, **EXTRA}[name])
    return out


if __name__ == "__main__":
    if sys.argv[1] == "list":
        import os

        print("\n".join(os.environ.get("SERVE_MODELS", " ".join(MODELS)).split()))
    else:
        print(write(sys.argv[2], sys.argv[3]))
