"""A tiny llama GGUF that llama-server can serve (byte-level BPE, ChatML template, random F16 weights).

Same model as the conformance checks' make_chat_gguf.py (llama_cpp_builds.md section 9), as a function."""
import numpy as np
import gguf


def byte_chars():  # GPT-2's reversible byte -> printable unicode map
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def write_chat_gguf(out, n_layer: int = 2, n_embd: int = 256, n_ctx_train: int = 32768,
                    n_head: int = 4, n_kv: int = 2, n_ff: int | None = None):
    """Write the model; returns its path. The defaults are the shared check's model, byte for byte."""
    n_ff = n_ff or 2 * n_embd
    tokens = byte_chars() + ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    types = [1] * 256 + [3, 3, 3]
    n_vocab = len(tokens)
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(out, "llama")
    w.add_context_length(n_ctx_train)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(["Ġ t"])
    w.add_bos_token_id(256)
    w.add_eos_token_id(257)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


    def t(name, *shape, dtype=np.float16):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(dtype))


    t("token_embd.weight", n_vocab, n_embd)
    t("output_norm.weight", n_embd, dtype=np.float32)
    t("output.weight", n_vocab, n_embd)
    hd = n_embd // n_head
    for i in range(n_layer):
        t(f"blk.{i}.attn_norm.weight", n_embd, dtype=np.float32)
        t(f"blk.{i}.attn_q.weight", n_embd, n_embd)
        t(f"blk.{i}.attn_k.weight", n_kv * hd, n_embd)
        t(f"blk.{i}.attn_v.weight", n_kv * hd, n_embd)
        t(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        t(f"blk.{i}.ffn_norm.weight", n_embd, dtype=np.float32)
        t(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        t(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        t(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
