"""Tiny real architectures for GGUF tests, and a 127.0.0.1 HTTP server with Range support."""

from __future__ import annotations

import http.server
import os
import re
import threading
from pathlib import Path

from vtt.specs.model_arch import Compressed, Mla, ModelArch, Ssm

_BASE = dict(n_embd=256, n_vocab=512, n_ctx_train=4096)
TINY = {
    "llama": dict(arch="llama", n_layer=2, n_head=8, n_head_kv=2, head_dim_k=32, head_dim_v=32, n_ff=512),
    "qwen3": dict(arch="qwen3", n_layer=2, n_head=8, n_head_kv=2, head_dim_k=64, head_dim_v=64, n_ff=512),
    "qwen3moe": dict(arch="qwen3moe", n_layer=2, n_head=8, n_head_kv=2, head_dim_k=64, head_dim_v=64,
                     n_expert=8, n_expert_used=2, n_ff_exp=128),
    "gpt-oss": dict(arch="gpt-oss", n_layer=4, n_head=8, n_head_kv=2, head_dim_k=64, head_dim_v=64,
                    n_expert=8, n_expert_used=2, n_ff_exp=256, swa_window=128, swa_pattern=2),
    # GLM-4.7-Flash attention shapes (MLA: 20 heads in the real model), fewer experts and layers
    "deepseek2": dict(arch="deepseek2", n_layer=3, n_head=4, n_head_kv=1, head_dim_k=576, head_dim_v=512,
                      head_dim_q=256, mla=Mla(kv_lora_rank=512, q_lora_rank=768, qk_rope_head_dim=64,
                                              qk_nope_head_dim=192, v_head_dim=256),
                      n_ff=1024, n_dense_lead=1, n_expert=8, n_expert_used=2, n_ff_exp=256,
                      n_expert_shared=1, n_ff_shexp=256),
    "gemma3": dict(arch="gemma3", n_layer=6, n_head=8, n_head_kv=4, head_dim_k=64, head_dim_v=64, n_ff=512,
                   swa_window=64, swa_pattern=6, tied_embeddings=True),
    # Qwen3.5/3.6-MoE and Qwen3-Next shapes: gated DeltaNet layers 3:1 with full attention (gated Q),
    # a shared expert; 32-wide delta-rule heads, 4 key and 8 value heads
    "qwen35moe": dict(arch="qwen35moe", n_layer=8, n_head=8, n_head_kv=2, head_dim_k=64, head_dim_v=64,
                      n_expert=8, n_expert_used=2, n_ff_exp=128, n_expert_shared=1, n_ff_shexp=128,
                      recurrent_interval=4, ssm=Ssm(d_conv=4, d_inner=256, d_state=32, n_group=4, dt_rank=8)),
    "qwen3next": dict(arch="qwen3next", n_layer=8, n_head=8, n_head_kv=2, head_dim_k=64, head_dim_v=64,
                      n_expert=8, n_expert_used=2, n_ff_exp=128, n_expert_shared=1, n_ff_shexp=128,
                      recurrent_interval=4, ssm=Ssm(d_conv=4, d_inner=256, d_state=32, n_group=4, dt_rank=8)),
    # DeepSeek-V4 shapes (one 128-wide K/V head, 64 rope dims, 4 hyper-connection streams, compressed
    # attention CSA / HCA after two window-only layers), narrower and with fewer experts
    "deepseek4": dict(arch="deepseek4", n_layer=6, n_head=4, n_head_kv=1, head_dim_k=128, head_dim_v=128,
                      swa_window=16, layer_pattern="S" * 6, n_expert=8, n_expert_used=2, n_ff_exp=128,
                      n_expert_shared=1, n_ff_shexp=128,
                      compressed=Compressed(ratios=[0, 0, 4, 128, 4, 128], indexer_n_head=4, indexer_head_dim=64,
                                            indexer_top_k=8, q_lora_rank=64, o_lora_rank=64, o_groups=2,
                                            hc_mult=4, rope_dim=64)),
}
# Fields that come from the catalog, not from a GGUF.
CATALOG_ONLY = {"id", "name", "family", "aliases", "files", "quality", "released", "sources",
                "params_total_b", "params_active_b"}


def tiny_arch(kind: str, **over) -> ModelArch:
    d = dict(_BASE, id=f"tiny-{kind}", name=f"tiny {kind}", family=kind, **TINY[kind])
    d.update(over)
    return ModelArch(**d)


def write_tiny(kind: str, folder: Path, weight_type: str = "f16", **over) -> Path:
    from vtt.gguf.write import write_random_gguf

    return write_random_gguf(tiny_arch(kind, **over), Path(folder) / f"{kind}-{weight_type}.gguf",
                             weight_type=weight_type)


class RangeServer:
    """Serves one folder on 127.0.0.1 in a thread; counts body bytes sent; can ignore Range."""

    def __init__(self, folder: Path, *, honour_range: bool = True):
        self.folder, self.honour_range, self.sent = Path(folder), honour_range, 0
        self.requests: list[str] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                name = os.path.basename(self.path.split("?")[0])
                if self.path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", "/" + name)
                    self.end_headers()
                    return
                path = outer.folder / name
                if not path.is_file():
                    self.send_error(404)
                    return
                size = path.stat().st_size
                m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if not outer.honour_range:
                    m = None
                start, end = (int(m.group(1)), int(m.group(2) or size - 1)) if m else (0, size - 1)
                end = min(end, size - 1)
                if start >= size:
                    self.send_error(416)
                    return
                self.send_response(206 if m else 200)
                self.send_header("Content-Length", str(end - start + 1))
                if m:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                with open(path, "rb") as f:
                    f.seek(start)
                    left = end - start + 1
                    while left > 0:
                        chunk = f.read(min(left, 1 << 16))
                        # counted before the write: the client may hold the last byte and the test
                        # read `sent` before this thread runs again
                        outer.sent += len(chunk)
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            outer.sent -= len(chunk)
                            return
                        left -= len(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
