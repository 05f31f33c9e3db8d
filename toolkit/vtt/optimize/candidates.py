"""Candidates: model x quant x context, priced with the cost model in one batched call.

Each (mode, pair) that is ruled out keeps a reason ("11.5 t/s under the 20 t/s roo/code needs"),
so explanations and infeasibility reports can quote it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from vtt.optimize.problem import ModeReq, Problem
from vtt.specs.catalog import World, norm
from vtt.specs.mode import EditorModes
from vtt.specs.policy import Policy
from vtt.units import GIB

_BASE_TO_QUANT = {"q8_0": "Q8_0", "q6_K": "Q6_K", "q5_K": "Q5_K_M", "q4_K": "Q4_K_M", "q3_K": "Q3_K_M",
                  "q2_K": "Q2_K", "iq4_xs": "Q4_K_S", "iq4_nl": "Q4_K_S", "q4_0": "Q4_0", "q5_0": "Q5_0",
                  "f16": "F16", "bf16": "BF16", "f32": "F32", "mxfp4": "MXFP4"}


@dataclass
class Catalogue:
    """A Problem plus the labels and records needed to explain it."""

    problem: Problem
    world: World | None
    hardware: str
    pair_label: list[str]
    reasons: dict[tuple[int, int], list[str]]     # (d, j) -> why it is ruled out
    speeds: dict[str, np.ndarray]                 # pp_tps, tg_tps, ttft_s (D, J)
    quality_note: list[str]                       # (J,) where the quality number came from
    priced: int = 0
    servers_priced: int = 0
    budget_requested_gib: float = 0.0
    kept_free_gib: float = 0.0
    policy: Policy | None = None
    files: list[str | None] = field(default_factory=list)   # (J,) GGUF file name when the catalog knows it


@contextmanager
def _calibration_read_once():
    """plan_many reads the calibration file once per model-quant group; read it once per call here.
    (Local to this call; the plain `vtt plan` path is unchanged.)"""
    import vtt.plan as plan_mod

    orig = plan_mod.find_calibration
    cache: dict = {}

    def cached(roots, hw, be, cal_id=None, defaults=None):
        key = (tuple(map(str, roots)), hw, be, cal_id, repr(sorted((defaults or {}).items())))
        if key not in cache:
            cache[key] = orig(roots, hw, be, cal_id, defaults)
        return cache[key]

    plan_mod.find_calibration = cached
    try:
        yield
    finally:
        plan_mod.find_calibration = orig


def quant_factor(world: World | None, quant: str, policy: Policy) -> float:
    table = {norm(k): v for k, v in policy.quant_ppl_delta.items()}
    dppl = table.get(norm(quant))
    if dppl is None and world is not None:
        ft = world.find_quant(quant)
        if ft is not None:
            dppl = table.get(norm(ft.id))
            if dppl is None:
                dppl = table.get(norm(_BASE_TO_QUANT.get(ft.base, "Q4_0")))
    if dppl is None:
        dppl = table.get(norm("Q4_0"), 0.5)
    return max(0.0, 1.0 - policy.quant_penalty_per_ppl * dppl)


def model_score(arch, benchmark: str) -> tuple[float | None, str]:
    for q in arch.quality:
        if norm(q.benchmark) == norm(benchmark):
            return q.score / 100.0, f"{q.benchmark} {q.score:g} ({q.source})"
    return None, f"no sourced {benchmark} score"


def mode_reqs(editors: dict[str, EditorModes], policy: Policy) -> tuple[list[ModeReq], list[tuple[int, int, float]]]:
    modes: list[ModeReq] = []
    for ed in editors.values():
        for m in ed.modes:
            key = f"{ed.editor}/{m.id}"
            o = policy.modes.get(key)
            need = m.needs
            modes.append(ModeReq(
                key=key, editor=ed.editor, mode=m.id,
                min_context=(o and o.min_context) or need.min_context,
                min_tg_tps=(o.min_tg_tps if o and o.min_tg_tps is not None else need.min_tg_tps),
                max_ttft_s=(o.max_ttft_s if o and o.max_ttft_s is not None else need.max_ttft_s),
                w_quality=m.weights.quality, w_speed=m.weights.speed, share=m.share,
                depth=m.request.depth, n_prompt=m.request.n_prompt, n_gen=m.request.n_gen))
    index = {md.key: i for i, md in enumerate(modes)}
    pairs: dict[tuple[int, int], float] = {}
    for ed in editors.values():
        for s in ed.sessions:
            ids = [index[f"{ed.editor}/{x}"] for x in s.modes]
            combos = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
            for a, b in combos:
                key = (min(a, b), max(a, b))
                pairs[key] = pairs.get(key, 0.0) + s.switches_per_hour / len(combos)
    return modes, [(a, b, r) for (a, b), r in sorted(pairs.items())]


def mode_value(md: ModeReq, quality: float, tg: float, ttft: float) -> float:
    """share x (w_q x quality + w_s x speed); speed = mean of tg/(tg+ref) and ref/(ttft+ref), each in 0..1."""
    tg_ref = max(md.min_tg_tps, 5.0)
    ttft_ref = min(md.max_ttft_s, 60.0)
    speed = 0.5 * tg / (tg + tg_ref) + 0.5 * ttft_ref / (ttft + ttft_ref)
    return md.share * (md.w_quality * quality + md.w_speed * speed)


def ladder_for(n_ctx_train: int, policy: Policy) -> list[int]:
    out = [c for c in policy.context_ladder if c <= n_ctx_train]
    if n_ctx_train <= 262144 and n_ctx_train not in out:
        out.append(n_ctx_train)
    return sorted(out)


def build_catalogue(world: World, editors: dict[str, EditorModes], policy: Policy, *, hardware: str,
                    budget_gib: float | None = None, model_ids: list[str] | None = None) -> Catalogue:
    from vtt.plan import plan_many

    hw = world.get_hardware(hardware)
    requested = budget_gib if budget_gib is not None else hw.gpu_addressable_gib
    kept = policy.other_work_gib + policy.headroom_gib
    budget = min(requested, hw.gpu_addressable_gib, hw.memory_gib) - kept
    modes, sess_pairs = mode_reqs(editors, policy)
    archs = [world.model(mid) for mid in model_ids] if model_ids else list(world.models.values())
    archs = list({a.id: a for a in archs}.values())
    # pairs: known files first (their published sizes), then the standard quants
    pair_model, pair_quant, files = [], [], []
    for mi, a in enumerate(archs):
        seen = set()
        for f in a.files:
            ft = world.find_quant(f.quant)
            if ft is None or ft.id in seen:
                continue
            seen.add(ft.id)
            pair_model.append(mi); pair_quant.append(ft.id); files.append(f.file)
        for q in policy.standard_quants:
            ft = world.quant(q)
            if ft.id not in seen:
                seen.add(ft.id)
                pair_model.append(mi); pair_quant.append(ft.id); files.append(None)
    J, D = len(pair_quant), len(modes)
    kv = policy.kv_type
    # one batched call: memory at each ladder context, speed at each mode's request
    mem_q, mem_idx = [], []
    for j in range(J):
        a = archs[pair_model[j]]
        for c in ladder_for(a.n_ctx_train, policy):
            mem_q.append({"model": a.id, "quant": pair_quant[j], "context": c, "n_prompt": 512, "n_gen": 128,
                          "hardware": hw.id, "kv_type": kv})
            mem_idx.append((j, c))
    sp_q = []
    for d, md in enumerate(modes):
        for j in range(J):
            a = archs[pair_model[j]]
            sp_q.append({"model": a.id, "quant": pair_quant[j], "context": md.depth + md.n_prompt + md.n_gen,
                         "depth": md.depth, "n_prompt": md.n_prompt, "n_gen": md.n_gen,
                         "hardware": hw.id, "kv_type": kv})
    with _calibration_read_once():
        ans = plan_many(mem_q + sp_q, world)
    mem_ans, sp_ans = ans[:len(mem_q)], ans[len(mem_q):]
    pp = np.zeros((D, J)); tg = np.zeros((D, J)); ttft = np.full((D, J), np.inf)
    bad_pair = np.zeros(J, dtype=bool)
    for i, a in enumerate(sp_ans):
        d, j = divmod(i, J)
        if "error" in a:
            bad_pair[j] = True
            continue
        pp[d, j], tg[d, j], ttft[d, j] = a["pp_tps"], a["tg_tps"], a["ttft_s"]
    srv_pair, srv_ctx, srv_mem, srv_load = [], [], [], []
    size_gib = np.zeros(J)
    for (j, c), a in zip(mem_idx, mem_ans):
        if "error" in a or bad_pair[j]:
            bad_pair[j] = True
            continue
        srv_pair.append(j); srv_ctx.append(c)
        srv_mem.append(a["total_gib"] + policy.cache_ram_gib)
        size_gib[j] = a["weights_gib"]
        srv_load.append(a["weights_gib"] * GIB / (hw.disk_read_gbs * 1e9))
    srv_pair = np.array(srv_pair, dtype=np.int64); srv_ctx = np.array(srv_ctx, dtype=np.int64)
    srv_mem = np.array(srv_mem); srv_load = np.array(srv_load)
    # quality per pair
    quality = np.full(J, np.nan)
    qnote = []
    for j in range(J):
        s, note = model_score(archs[pair_model[j]], policy.quality_benchmark)
        f = quant_factor(world, pair_quant[j], policy)
        if s is not None:
            quality[j] = s * f
            note += f" x {f:.3f} for {pair_quant[j]}"
        qnote.append(note)
    # which (d, j) are allowed, with reasons
    model_ids_all = [a.id for a in archs]
    reasons: dict[tuple[int, int], list[str]] = {}
    allowed = np.ones((D, J), dtype=bool)
    value = np.zeros((D, J))
    load_of_pair = np.zeros(J)
    for k in range(len(srv_pair)):
        load_of_pair[srv_pair[k]] = srv_load[k]
    swap_s = np.zeros((D, J))
    for d, md in enumerate(modes):
        pin = policy.pins.get(md.key)
        pin_m, _, pin_q = (pin or "").partition("/")
        pin_arch = world.find_model(pin_m) if pin else None
        for j in range(J):
            a = archs[pair_model[j]]
            r = []
            if bad_pair[j]:
                r.append("the cost model could not price it")
            else:
                if tg[d, j] < md.min_tg_tps:
                    r.append(f"{tg[d, j]:.1f} t/s under the {md.min_tg_tps:g} t/s {md.key} needs")
                if ttft[d, j] > md.max_ttft_s:
                    r.append(f"first token after {ttft[d, j]:.1f} s, over the {md.max_ttft_s:g} s {md.key} allows")
                ks = np.nonzero(srv_pair == j)[0]
                cover = [k for k in ks if srv_ctx[k] >= md.min_context]
                if not cover:
                    r.append(f"context at most {max(ladder_for(a.n_ctx_train, policy))} under the {md.min_context} {md.key} needs")
                elif min(srv_mem[k] for k in cover) > budget + 1e-9:
                    r.append(f"{min(srv_mem[k] for k in cover):.1f} GiB at {md.min_context} tokens, over the {budget:.1f} GiB budget")
            q = quality[j]
            if math.isnan(q):
                if policy.missing_quality == "exclude" and md.w_quality >= policy.quality_mode_threshold:
                    r.append(f"no sourced {policy.quality_benchmark} score (excluded from quality-weighted modes)")
                q = 0.0
            if pin and (pin_arch is None or pin_arch.id != a.id or (pin_q and norm(pin_q) != norm(pair_quant[j])
                                                                   and world.find_quant(pin_q).id != pair_quant[j])):
                r.append(f"{md.key} is pinned to {pin}")
            if r:
                reasons[d, j] = r
                allowed[d, j] = False
            value[d, j] = mode_value(md, q, tg[d, j], ttft[d, j]) if not bad_pair[j] else 0.0
            swap_s[d, j] = load_of_pair[j] + (md.depth / pp[d, j] if pp[d, j] > 0 else 0.0)
    never = []
    idx = {mid: i for i, mid in enumerate(model_ids_all)}
    for a_id, b_id in policy.never_together:
        am, bm = world.find_model(a_id), world.find_model(b_id)
        if am and bm and am.id in idx and bm.id in idx:
            never.append((idx[am.id], idx[bm.id]))
    # keep only servers whose context is the smallest covering one for some mode need (others add memory only)
    needs = sorted({md.min_context for md in modes})
    keep = np.zeros(len(srv_pair), dtype=bool)
    for j in range(J):
        ks = np.nonzero(srv_pair == j)[0]
        for n in needs:
            cover = [k for k in ks if srv_ctx[k] >= n]
            if cover:
                keep[min(cover, key=lambda k: srv_ctx[k])] = True
    keep &= srv_mem <= budget + 1e-9
    prob = Problem(
        modes=modes, models=model_ids_all, pair_model=np.array(pair_model, dtype=np.int64), pair_quant=pair_quant,
        quality=quality, srv_pair=srv_pair[keep], srv_ctx=srv_ctx[keep], srv_mem=srv_mem[keep],
        srv_load_s=srv_load[keep], value=value, allowed=allowed, swap_s=swap_s, pairs=sess_pairs, never=never,
        budget_gib=budget, set_penalty=policy.set_penalty if policy.prefer_resident else 0.0,
        swap_weight=policy.swap_weight,
    )
    labels = [f"{model_ids_all[pair_model[j]]}/{pair_quant[j]}" for j in range(J)]
    return Catalogue(prob, world, hw.id, labels, reasons, {"pp_tps": pp, "tg_tps": tg, "ttft_s": ttft}, qnote,
                     priced=len(ans), servers_priced=len(mem_q), budget_requested_gib=requested, kept_free_gib=kept,
                     policy=policy, files=files)
