"""Fuzz campaign: mutated GGUF headers (written by the project) through the reader, the validation
step and `plan_many`, as `vtt plan FILE` runs them. Counts cases, crashes (anything but VttError,
with a traceback signature), hangs (> 2 s), bad answers (non-finite or negative numbers) and
peak RSS; a sample of cases also goes through the real CLI in a child process (its own RSS).

    python validation/fuzz/campaign.py --cases 100000 --seed 1 --out validation/fuzz/results.json

Run it on one core (`taskset -c 0`). Results are written as they come (every 1,000 cases), so a
run cut short still reports what it did.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from gguf_models import write_tiny  # noqa: E402
from gguf_mutate import encode, mutate, typed_items, write_sparse  # noqa: E402

from vtt.errors import VttError  # noqa: E402
from vtt.gguf.arch import arch_from_header, profile_from_header  # noqa: E402
from vtt.gguf.reader import read_gguf_header  # noqa: E402
from vtt.plan import plan_many  # noqa: E402

HANG_S = 2.0
KINDS = [("llama", "f16"), ("qwen3moe", "q8_0"), ("gpt-oss", "mxfp4"), ("deepseek2", "f16"), ("gemma3", "f16"),
         ("qwen3", "q4_0")]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def _bases(tmp: Path):
    out = []
    for kind, wt in KINDS:
        p = write_tiny(kind, tmp, wt, n_vocab=300)
        h = read_gguf_header(p)
        out.append((kind, typed_items(h), h.tensors, p.read_bytes()[:h.header_bytes]))
    return out


def _case(rng: random.Random, bases) -> tuple[str, bytes, list]:
    """(kind, header bytes, tensors): the file is the header plus a hole the size of the tensors."""
    kind, items, tensors, header = rng.choice(bases)
    r = rng.random()
    if r < 0.6:  # one or two bad values in a valid header
        it, ts = mutate(items, tensors, rng)
        return f"{kind}:value", encode(it, ts), ts
    if r < 0.85:  # byte flips in the header bytes, tensor data kept
        buf = bytearray(header)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return f"{kind}:flip", bytes(buf), tensors
    if r < 0.95:  # value mutation, then flips
        it, ts = mutate(items, tensors, rng)
        buf = bytearray(encode(it, ts))
        for _ in range(rng.randint(1, 3)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        return f"{kind}:value+flip", bytes(buf), ts
    cut = rng.randrange(len(header))  # truncation
    return f"{kind}:cut", header[:cut], []


def _bad_numbers(ans: dict) -> list[str]:
    bad = []
    for k, v in ans.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v) or (v < 0 and "headroom" not in k) or (k.endswith("_gib") and v > 1e6):
            bad.append(f"{k}={v}")
    return bad


# The CLI in a child that reports its own VmHWM at exit: ru_maxrss of a child would include the
# parent's pages it held between fork and exec (Linux keeps the pre-exec high-water mark).
_CLI = ("import atexit, sys\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            sys.stderr.write('\\nVMHWM_KIB=' + line.split()[1] + '\\n')\n"
        "atexit.register(hwm)\n"
        "sys.argv = ['vtt', 'plan', sys.argv[1], '-c', '4096', '--json']\n"
        "from vtt.cli.app import main\n"
        "main()\n")


def _cli_case(path: Path) -> tuple[int, float, int, str]:
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", _CLI, str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    dt = time.monotonic() - t0
    text = (out + err).decode("utf-8", "replace")
    hwm = [int(x.split("=")[1]) for x in text.splitlines() if x.startswith("VMHWM_KIB=")]
    return p.returncode, dt, hwm[-1] if hwm else 0, text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli-every", type=int, default=500, help="every Nth case also through the CLI")
    ap.add_argument("--out", type=Path, default=ROOT / "validation" / "fuzz" / "results.json")
    ap.add_argument("--max-minutes", type=float, default=1e9)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-fuzz-"))
    bases = _bases(tmp)
    rng = random.Random(args.seed)
    signal.signal(signal.SIGALRM, _alarm)
    kinds = collections.Counter()
    outcome = collections.Counter()
    crashes: dict[str, dict] = {}
    hangs: list[dict] = []
    bad_answers: list[dict] = []
    slowest = 0.0
    cli = {"cases": 0, "tracebacks": 0, "bad_exit": 0, "max_s": 0.0, "peak_rss_mib": 0.0}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_start = time.monotonic()
    f = tmp / "m.gguf"
    done = 0

    def dump(final: bool = False) -> None:
        res = {
            "cases": done, "seed": args.seed, "by_kind": dict(kinds), "outcomes": dict(outcome),
            "crashes": sum(c["count"] for c in crashes.values()), "crash_signatures": crashes,
            "hangs_over_2s": len(hangs), "hang_cases": hangs[:20], "bad_answers": len(bad_answers),
            "bad_answer_cases": bad_answers[:20], "slowest_case_s": round(slowest, 3),
            "peak_rss_mib_in_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_mib_after_setup": round(rss0, 1), "cli": cli,
            "wall_s": round(time.monotonic() - t_start, 1), "final": final, "python": sys.version.split()[0],
        }
        args.out.write_text(json.dumps(res, indent=2) + "\n")

    for i in range(args.cases):
        if time.monotonic() - t_start > args.max_minutes * 60:
            break
        kind, data, tensors = _case(rng, bases)
        kinds[kind.split(":")[1]] += 1
        write_sparse(f, data, tensors)
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 20.0)
        try:
            h = read_gguf_header(f)
            a = arch_from_header(h)
            profile_from_header(h, a)
            ans = plan_many([{"model": str(f), "context": 4096}])[0]
            if "error" in ans:
                outcome["error_answer"] += 1
                if ans["error"].get("code") in ("internal", "internal_error", "bug"):
                    raise RuntimeError(ans["error"].get("message"))
            else:
                outcome["answered"] += 1
                bad = _bad_numbers(ans)
                if bad:
                    bad_answers.append({"case": i, "kind": kind, "bad": bad[:4]})
        except VttError as e:
            outcome["vtt_error"] += 1
            if "\n" in e.message or "\x1b" in e.message:
                crashes.setdefault("unprintable message", {"count": 0, "example": repr(e.message[:200])})
                crashes["unprintable message"]["count"] += 1
        except Hang:
            hangs.append({"case": i, "kind": kind, "s": "> 20"})
        except Exception as e:  # noqa: BLE001 - the point: anything else is a crash
            tb = traceback.extract_tb(e.__traceback__)[-1]
            sig = f"{type(e).__name__} at {Path(tb.filename).name}:{tb.lineno}"
            c = crashes.setdefault(sig, {"count": 0, "example_case": i, "kind": kind,
                                         "traceback": traceback.format_exc()[-1500:]})
            c["count"] += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.monotonic() - t0
        slowest = max(slowest, dt)
        if dt > HANG_S and not (hangs and hangs[-1]["case"] == i):
            hangs.append({"case": i, "kind": kind, "s": round(dt, 2)})
        if args.cli_every and i % args.cli_every == 0:
            rc, cdt, ru, text = _cli_case(f)
            cli["cases"] += 1
            cli["max_s"] = round(max(cli["max_s"], cdt), 3)
            cli["peak_rss_mib"] = round(max(cli["peak_rss_mib"], ru / 1024), 1)
            if "Traceback" in text:
                cli["tracebacks"] += 1
                cli.setdefault("traceback_example", text[-1500:])
            if rc not in (0, 2, 3):
                cli["bad_exit"] += 1
        done = i + 1
        if done % 1000 == 0:
            dump()
            print(f"{done} cases, {sum(c['count'] for c in crashes.values())} crashes, {len(hangs)} hangs, "
                  f"{time.monotonic() - t_start:.0f} s", flush=True)
    dump(final=True)
    print(json.dumps({k: v for k, v in json.loads(args.out.read_text()).items()
                      if k not in ("crash_signatures", "hang_cases", "bad_answer_cases")}, indent=1))


if __name__ == "__main__":
    main()
