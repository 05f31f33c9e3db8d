"""`vtt bench ops`: llama.cpp's own operator benchmark (`test-backend-ops perf`) at the catalog's shapes.

The pinned test-backend-ops (0c1e570, tests/test-backend-ops.cpp) takes no shapes on its command
line: `-o` filters ops, `-p` filters the params of its built-in perf cases
(`make_test_cases_perf`), `--output sql|csv|console` picks the format (csv omits the timings in
perf mode; sql has them all: time_us, flops, bandwidth_gb_s, n_runs). It also reads operators
from a file (`--test-file`, `make_test_cases_from_file`): one line per op,
`op type ne0..3 n_params params.. n_src (type ne0..3 nb0..3)*n_src name`, built into a
`test_generic_op`. vtt writes such a file for MUL_MAT and FLASH_ATTN_EXT at the catalog's
shapes (head widths, GQA ratios, KV lengths, ubatch, weight types). MUL_MAT_ID needs valid
expert ids, which a generic op fills with random bytes, so it uses the built-in perf cases
filtered with `-p` to the expert counts the catalog has (128 experts / 8 used, 32 / 4).

A generic op reports no FLOPs (`op_flops` is 0), so vtt computes them from the shape:
MUL_MAT 2mnk; FLASH_ATTN_EXT 2 H n_q n_kv (D_k + D_v) (no causal skipping: the mask is random);
MUL_MAT_ID 2 m k n n_used. Perf mode runs each case for at least one second, with as many
copies per graph as fit (`eval_perf`), so a case costs about 1-2 s whatever its size.

Only this module (and `vtt.harness.proc`) starts test-backend-ops; results are stored by
`vtt.store.ops_records`.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from vtt.errors import BadQuery, EnvironmentProblem

# ggml.h `enum ggml_op` / `enum ggml_type` positions at the pinned commit (0c1e570).
OP_IDS = {"MUL_MAT": 29, "MUL_MAT_ID": 30, "FLASH_ATTN_EXT": 74}
TYPE_IDS = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8, "q4_k": 12, "q6_k": 14, "mxfp4": 39}
# weight type -> quant family of vtt.cost (ce_f16, ce_q8, ce_legacy, ce_k, ce_mxfp4)
QUANT_FAMILY = {"f16": "f16", "q8_0": "q8", "q4_0": "legacy", "q4_k": "k", "q6_k": "k", "mxfp4": "mxfp4",
                "iq2_xs": "iq", "iq4_xs": "iq"}


@dataclass(frozen=True)
class OpCase:
    """One operator at one shape. `shape` holds the dims that define its FLOPs."""

    key: str  # stable id, also the generic op's name (no spaces or '-')
    op: str
    shape: tuple  # sorted (name, value) pairs
    builtin: tuple[str, str] | None = None  # (-o, -p) of a built-in perf case

    @property
    def dims(self) -> dict:
        return dict(self.shape)

    def flops(self) -> float:
        d = self.dims
        if self.op == "MUL_MAT":
            return 2.0 * d["m"] * d["n"] * d["k"]
        if self.op == "MUL_MAT_ID":
            return 2.0 * d["m"] * d["k"] * d["n"] * d["n_used"]
        if self.op == "FLASH_ATTN_EXT":
            return 2.0 * d["n_head"] * d["n_q"] * d["n_kv"] * (d["d_k"] + d["d_v"])
        return 0.0

    def file_line(self) -> str | None:
        """The --test-file line of a generic op (None for built-in cases)."""
        if self.builtin:
            return None
        d = self.dims
        if self.op == "MUL_MAT":  # a [k, m] (weights) x b [k, n] (f32 activations) -> [m, n] f32
            srcs = [(d["type"], (d["k"], d["m"], 1, 1)), ("f32", (d["k"], d["n"], 1, 1))]
            ne, params = (d["m"], d["n"], 1, 1), []
        elif self.op == "FLASH_ATTN_EXT":  # q f32 [D, n_q, H], k/v f16 [D, n_kv, H_kv], mask f16 [n_kv, n_q]
            srcs = [("f32", (d["d_k"], d["n_q"], d["n_head"], 1)), (d["kv_type"], (d["d_k"], d["n_kv"], d["n_head_kv"], 1)),
                    (d["kv_type"], (d["d_v"], d["n_kv"], d["n_head_kv"], 1)), ("f16", (d["n_kv"], d["n_q"], 1, 1))]
            ne = (d["d_v"], d["n_head"], d["n_q"], 1)  # ggml_flash_attn_ext's result is permuted
            # scale, max_bias, logit_softcap, accumulator precision: llama.cpp sets GGML_PREC_F32 (10) on every
            # FA node (llama-graph.cpp build_attn_mha: ggml_prec_set_acc(cur, GGML_PREC_F32)); op_params[4]
            # n_kv_max 0 keeps the dense kernel (ggml-vulkan.cpp: the sparse-mask path needs n_kv_max > 0)
            params = [_f32_bits(d["d_k"] ** -0.5), 0, 0, 10]
        else:
            raise ValueError(f"no generic form for {self.op}")
        parts = [OP_IDS[self.op], TYPE_IDS["f32"], *ne, len(params), *params, len(srcs)]
        for t, sne in srcs:
            parts += [TYPE_IDS[t], *sne, 0, 0, 0, 0]
        return " ".join(map(str, parts + [self.key]))


def _f32_bits(x: float) -> int:
    return struct.unpack("<i", struct.pack("<f", x))[0]


def mul_mat(wtype: str, m: int, n: int, k: int) -> OpCase:
    return OpCase(f"mm_{wtype}_m{m}_n{n}_k{k}", "MUL_MAT", tuple(sorted({"type": wtype, "m": m, "n": n, "k": k}.items())))


def flash_attn(d_k: int, d_v: int, n_head: int, n_head_kv: int, n_q: int, n_kv: int, kv_type: str = "f16") -> OpCase:
    dims = {"d_k": d_k, "d_v": d_v, "n_head": n_head, "n_head_kv": n_head_kv, "n_q": n_q, "n_kv": n_kv,
            "kv_type": kv_type}
    return OpCase(f"fa_dk{d_k}_dv{d_v}_h{n_head}_kv{n_head_kv}_q{n_q}_n{n_kv}_{kv_type}", "FLASH_ATTN_EXT",
                  tuple(sorted(dims.items())))


def mul_mat_id_builtin(wtype: str, n_mats: int, n_used: int, m: int, n: int, k: int) -> OpCase:
    """A built-in perf case (make_test_cases_perf: test_mul_mat_id(type, f32, n_mats, n_used, false, m, n, k))."""
    dims = {"type": wtype, "n_mats": n_mats, "n_used": n_used, "m": m, "n": n, "k": k}
    # the params string test_mul_mat_id::vars() prints; anchored so the fused variant's extra keys don't match
    p = f"^type_a={wtype},type_b=f32,n_mats={n_mats},n_used={n_used},b=0,m={m},n={n},k={k}"
    return OpCase(f"mmid_{wtype}_e{n_mats}_u{n_used}_m{m}_n{n}_k{k}", "MUL_MAT_ID", tuple(sorted(dims.items())),
                  builtin=("MUL_MAT_ID", p))


def attention_shapes(world) -> list[tuple[int, int, int, int]]:
    """Distinct (d_k, d_v, n_head, n_head_kv) of the catalog's attention layers (MLA: the cached
    latent, one KV head), widest heads first."""
    from vtt.cost.attention import attention_geometry

    out = {attention_geometry(m) for m in world.models.values()}
    return sorted(out, key=lambda s: (-s[0], s[2] // s[3]))


def model_shapes(models: list[str] | None, world=None) -> list[tuple[int, int, int, int]]:
    """The attention shapes of catalog `models` (ids or aliases; None or empty: the whole catalog)."""
    from vtt.specs.catalog import default_world

    world = world or default_world()
    if not models:
        return attention_shapes(world)
    from vtt.cost.attention import attention_geometry

    return list(dict.fromkeys(attention_geometry(world.model(m)) for m in models))  # asked order, no repeats


PROFILES = ("ci", "quick", "catalog", "depth")


def op_cases(profile: str, world=None, models: list[str] | None = None, kvs: list[int] | None = None) -> list[OpCase]:
    """The case set of a profile.

    ci: tiny shapes for the CPU backend in CI (about 10 cases, ~1-2 s each).
    quick: what `vtt calibrate --quick` runs on a GPU (21 cases, ~30-40 s): one dense weight
      matmul per quant family at decode (n=1) and ubatch (n=512) width, flash attention at the
      catalog's head-width bands (128 GQA 4, 256 GQA 8, the 576/512 MLA latent) at ubatch width
      and KV 4K/16K plus decode at 16K, and the MoE expert matmuls llama.cpp ships perf cases for.
    catalog: every distinct attention shape of the catalog at n_q 1 and 512 and KV 4K/16K/32K,
      plus the quick matmuls.
    depth: flash attention alone at the attention shapes of `models` (catalog ids; default every
      catalog model) at n_q 512 and KV `kvs` (default 4K-64K): this machine's rate against depth, which `vtt calibrate`
      stores as depth curves (vtt.cost.depth_curve). About 150 cases for the whole catalog.
    """
    if profile == "ci":
        return [mul_mat("f16", 512, 1, 512), mul_mat("q8_0", 512, 1, 512), mul_mat("q4_0", 512, 1, 512),
                mul_mat("q4_0", 512, 32, 512), flash_attn(64, 64, 4, 2, 8, 256), flash_attn(128, 128, 4, 1, 8, 256),
                flash_attn(128, 128, 4, 1, 1, 512), mul_mat_id_builtin("q4_0", 128, 8, 768, 1, 2048)]
    if profile not in PROFILES:
        raise BadQuery(f"unknown ops profile '{profile}'", hint="one of: " + ", ".join(PROFILES))
    if profile == "depth":
        from vtt.cost.depth_curve import N_KV, N_Q

        return [flash_attn(d_k, d_v, h, hkv, N_Q, n_kv) for d_k, d_v, h, hkv in model_shapes(models, world)
                for n_kv in sorted(set(kvs or N_KV))]
    cases = [mul_mat(t, 4096, n, 4096) for t in ("f16", "q8_0", "q4_0", "q4_k", "mxfp4") for n in (1, 512)]
    cases += [mul_mat_id_builtin(t, 128, 8, 768, 512, 2048) for t in ("q4_0", "q8_0")]
    bands = [(128, 128, 32, 8), (256, 256, 16, 2), (576, 512, 20, 1)]  # GQA 4 / GQA 8 / MLA latent
    kvs, decode_kvs = (4096, 16384), (16384,)
    if profile == "catalog":
        from vtt.specs.catalog import default_world

        bands, kvs, decode_kvs = attention_shapes(world or default_world()), (4096, 16384, 32768), (4096, 16384, 32768)
        cases += [mul_mat_id_builtin(t, 128, 8, 768, 1, 2048) for t in ("q4_0", "q8_0")]
    for d_k, d_v, h, hkv in bands:
        cases += [flash_attn(d_k, d_v, h, hkv, 512, n_kv) for n_kv in kvs]
        cases += [flash_attn(d_k, d_v, h, hkv, 1, n_kv) for n_kv in decode_kvs]
    return cases


# --- running ------------------------------------------------------------------------------------

_INSERT = re.compile(r"^INSERT INTO test_backend_ops \((.*?)\) VALUES \((.*)\);\s*$")
_VALUE = re.compile(r"'((?:[^']|'')*)'")


def parse_sql_line(line: str) -> dict | None:
    """One `--output sql` INSERT line -> a dict of its columns (numbers converted), else None."""
    m = _INSERT.match(line.strip())
    if not m:
        return None
    cols = [c.strip() for c in m.group(1).split(",")]
    vals = [v.replace("''", "'") for v in _VALUE.findall(m.group(2))]
    if len(cols) != len(vals):
        return None
    row = dict(zip(cols, vals))
    for k in ("time_us", "flops", "bandwidth_gb_s"):
        row[k] = float(row[k]) if row.get(k) not in (None, "") else None
    for k in ("memory_kb", "n_runs", "supported", "passed"):
        row[k] = int(row[k]) if row.get(k) not in (None, "") else None
    return row


def case_of(row: dict, cases: list[OpCase]) -> OpCase | None:
    """The case a result row belongs to: generic ops by their name, built-in ones by their params."""
    params = row.get("op_params") or ""
    m = re.match(r"name=([^,]+)", params)
    for c in cases:
        if m and c.key == m.group(1):
            return c
        if c.builtin and c.op == row.get("op_name") and re.search(c.builtin[1], params):
            return c
    return None


def find_test_backend_ops(explicit: str | Path | None = None) -> Path:
    """--binary PATH, else $VTT_TEST_BACKEND_OPS, else $LLAMA_BIN_DIR, else beside the cached llama-bench."""
    given = explicit or os.environ.get("VTT_TEST_BACKEND_OPS")
    if not given and os.environ.get("LLAMA_BIN_DIR"):
        given = Path(os.environ["LLAMA_BIN_DIR"]) / "test-backend-ops"
    if given:
        p = Path(given).expanduser()
        if p.is_file() and os.access(p, os.X_OK):
            return p
        raise EnvironmentProblem(f"test-backend-ops not found at {p}", code="test_backend_ops_missing",
                                 hint="vtt bench install builds it beside llama-bench")
    from vtt.harness.locate import BACKENDS, build_dir

    for backend in BACKENDS:
        p = build_dir(backend) / "bin" / "test-backend-ops"
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise EnvironmentProblem("test-backend-ops not found (no cached build)", code="test_backend_ops_missing",
                             hint="build it once with: vtt bench install --backend cpu")


@dataclass
class OpsRun:
    results: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # invocation-level problems (timeouts, crashes)
    wall_s: float = 0.0


def run_ops(cases: list[OpCase], *, binary: Path, backend: str, timeout_s: float = 600.0, on_result=None,
            env: dict | None = None) -> OpsRun:
    """Run `cases` on test-backend-ops backend `backend` (CPU, Vulkan0, ...): one invocation for the
    generic ops (a --test-file), one per built-in filter. Each parsed row goes to `on_result(row,
    case)` as soon as it is read. A child past the deadline is killed with its process group."""
    from vtt.harness.proc import ChildProcess

    t0 = time.monotonic()
    run = OpsRun()
    deadline = t0 + timeout_s
    invocations: list[tuple[list[str], list[OpCase]]] = []
    generic = [c for c in cases if not c.builtin]
    tmp = Path(tempfile.mkdtemp(prefix="vtt-ops-"))
    if generic:
        f = tmp / "cases.txt"
        f.write_text("".join(c.file_line() + "\n" for c in generic))
        invocations.append((["--test-file", str(f)], generic))
    by_filter: dict[tuple[str, str], list[OpCase]] = {}
    for c in cases:
        if c.builtin:
            by_filter.setdefault((c.builtin[0], c.builtin[1]), []).append(c)
    if by_filter:  # one invocation per op: its -p is the cases' patterns joined
        by_op: dict[str, list[OpCase]] = {}
        for (o, _), cs in by_filter.items():
            by_op.setdefault(o, []).extend(cs)
        for o, cs in by_op.items():
            pat = "|".join(f"({c.builtin[1]})" for c in cs)
            invocations.append((["-o", o, "-p", pat], cs))
    for args, inv_cases in invocations:
        left = deadline - time.monotonic()
        if left <= 0:
            run.failed.append(f"time limit: skipped {len(inv_cases)} cases ({args[0]})")
            continue
        out_path = tmp / f"out{len(run.failed)}_{len(run.results)}.sql"
        argv = [str(binary), "perf", "-b", backend, "--output", "sql", *args]
        if shutil.which("stdbuf"):  # line-buffered stdout: rows survive a kill at the deadline
            argv = ["stdbuf", "-oL", *argv]
        with out_path.open("w") as out, ChildProcess(argv, stdout=out, stderr=subprocess.DEVNULL,
                                                     env=(os.environ | env) if env else None) as child:
            seen = 0
            while True:
                rc = child.poll()
                seen = _drain(out_path, seen, inv_cases, run, on_result)
                if rc is not None:
                    break
                if time.monotonic() > deadline:
                    run.failed.append(f"timeout after {timeout_s:.0f} s: {' '.join(args[:2])}")
                    break
                time.sleep(0.1)
        _drain(out_path, seen, inv_cases, run, on_result)
        if rc not in (0, None):
            run.failed.append(f"test-backend-ops exited {rc}: {' '.join(args[:2])}")
    run.wall_s = time.monotonic() - t0
    return run


def _drain(path: Path, seen: int, cases: list[OpCase], run: OpsRun, on_result) -> int:
    """Parse complete new lines of the output file past `seen` lines; return the new count."""
    try:
        lines = path.read_text(errors="replace").split("\n")[:-1]  # the last piece may be partial
    except OSError:
        return seen
    for rec in sql_records(lines[seen:], cases):
        run.results.append(rec)
        if on_result:
            on_result(rec)
    return len(lines)


def sql_records(lines, cases: list[OpCase]) -> list[dict]:
    """The perf rows of test-backend-ops `--output sql` lines as stored results (result_record), each
    matched to its case: what `vtt bench ops` stores, for output read back from a file."""
    rows = (parse_sql_line(line) for line in lines)
    return [result_record(r, case_of(r, cases)) for r in rows if r is not None and r.get("test_mode") == "perf"]


def result_record(row: dict, case: OpCase | None) -> dict:
    """A stored operator result: the tool's row, the case's shape, and FLOP/s computed from the shape."""
    flops = case.flops() if case else 0.0
    t = row.get("time_us")
    return {
        "case_key": case.key if case else None, "op": row.get("op_name"), "shape": case.dims if case else None,
        "backend_name": row.get("backend_name"), "op_params": row.get("op_params"),
        "supported": bool(row.get("supported")), "time_us": t, "n_runs": row.get("n_runs"),
        "flops_per_op": flops, "flops_s": (flops / (t * 1e-6)) if (flops and t) else (row.get("flops") or None),
        "tool_flops_s": row.get("flops") or None, "bandwidth_gb_s": row.get("bandwidth_gb_s") or None,
        "memory_kb": row.get("memory_kb"), "build_commit": row.get("build_commit"),
        "device_description": row.get("device_description") or None, "test_time": row.get("test_time"),
    }


def bench_ops(cases: list[OpCase], *, backend: str, db=None, label: str | None = None, hardware: str | None = None,
              vtt_backend: str | None = None, binary: str | Path | None = None, timeout_s: float = 600.0,
              on_result=None) -> dict:
    """Run `cases` and store every result as it arrives under one run (source 'ops') with the machine
    fingerprint and the llama.cpp build. Returns a summary dict."""
    from datetime import datetime, timezone

    from vtt.harness.fingerprint import collect_fingerprint
    from vtt.harness.locate import read_version
    from vtt.store import ops_records, records
    from vtt.store.db import open_store

    exe = find_test_backend_ops(binary)
    bench = exe.parent / "llama-bench"
    version = read_version(bench) if bench.is_file() else None
    fingerprint = collect_fingerprint(str(bench) if bench.is_file() else None)
    label = label or "ops-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    with open_store(db) as st:
        machine_id = records.upsert_machine(st, fingerprint)
        run_id = records.add_run(st, label, source="ops", machine_id=machine_id, hardware=hardware,
                                 backend=vtt_backend, llama_bench_path=str(exe),
                                 build={k: (version or {}).get(k) for k in ("build_commit", "build_number", "version")},
                                 params={"test_backend_ops_backend": backend, "cases": [c.key for c in cases]})

        def store(rec: dict) -> None:
            ops_records.add_op_result(st, run_id, rec)
            if on_result:
                on_result(rec)

        try:
            run = run_ops(cases, binary=exe, backend=backend, timeout_s=timeout_s, on_result=store)
        except KeyboardInterrupt:
            records.set_run_status(st, run_id, "interrupted")
            raise
        records.set_run_status(st, run_id, "failed" if run.failed and not run.results else "ok")
        db_path = str(st.path)
    ok = [r for r in run.results if r["supported"] and r["time_us"]]
    return {"run_id": run_id, "label": label, "db": db_path, "machine_id": machine_id, "backend": backend,
            "cases": len(cases), "results": len(run.results), "supported": len(ok),
            "missing": sorted({c.key for c in cases} - {r["case_key"] for r in run.results}),
            "failed": run.failed, "wall_s": round(run.wall_s, 2)}
