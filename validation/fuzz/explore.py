"""Quick in-process value fuzz: mutated headers -> plan_many; print crash signatures."""
import random, sys, time, traceback, collections, tempfile, math
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from gguf_models import write_tiny
from gguf_mutate import encode, typed_items, mutate, with_tensor_data
from vtt.gguf.reader import read_gguf_header
from vtt.errors import VttError
from vtt.plan import plan_many

tmp = Path(tempfile.mkdtemp())
bases = []
for kind in ("llama", "qwen3moe", "gpt-oss", "deepseek2", "gemma3"):
    p = write_tiny(kind, tmp, "f16" if kind != "gpt-oss" else "mxfp4", n_vocab=300)
    h = read_gguf_header(p)
    bases.append((kind, typed_items(h), h.tensors))
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
sigs = collections.Counter(); ex = {}
N = int(sys.argv[1])
bad_ans = collections.Counter()
for i in range(N):
    kind, items, tensors = rng.choice(bases)
    it, ts = mutate(items, tensors, rng)
    f = tmp / "m.gguf"
    f.write_bytes(with_tensor_data(encode(it, ts), ts))
    t0 = time.time()
    try:
        ans = plan_many([{"model": str(f), "context": 4096}])[0]
        if "error" not in ans:
            for k, v in ans.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and (not math.isfinite(v) or (v < 0 and "headroom" not in k) or (k.endswith("_gib") and v > 1e5)):
                    bad_ans[(kind, k)] += 1; ex.setdefault(("ans", k), (kind, [x for x in it if x not in items][:2], v))
    except VttError:
        pass
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)[-1]
        sig = f"{type(e).__name__} {Path(tb.filename).name}:{tb.lineno}"
        sigs[sig] += 1
        ex.setdefault(sig, (kind, [x for x in it if x not in items][:2], str(e)[:150]))
    dt = time.time() - t0
    if dt > 2:
        sigs["SLOW"] += 1; ex.setdefault("SLOW", (kind, [x for x in it if x not in items][:2], dt))
for s, n in sigs.most_common():
    print(n, s, ex[s])
print("bad answers", bad_ans.most_common(20)); [print(k, v) for k, v in ex.items() if isinstance(k, tuple)]
print("sample answer", ans)
