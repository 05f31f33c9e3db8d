"""Candidates: model x quant x context, priced with the cost model in one batched call.

Each (mode, pair) that is ruled out keeps a reason ("11.5 t/s under the 20 t/s roo/code needs"),
so explanations and infeasibility reports can quote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vtt.errors import BadQuery
from vtt.optimize.problem import ModeReq, Problem
from vtt.specs.catalog import World, norm
from vtt.specs.mode import EditorModes
from vtt.specs.policy import Policy
from vtt.units import GIB

# A prior's centre can equal a measured score exactly (Qwen3-Next 80B's prior is its coder sibling's
# 69.2 at the same size and speed): the MILP then picks either. This tilt breaks such ties toward the
# published score. 1e-3 of a value (share x weight, >= ~0.01) stays above HiGHS's absolute MIP gap
# (1e-6; milp.py sets only the relative gap to 0) and below any real difference between candidates.
PRIOR_TIE = 1e-3


def under_size_floor(arch, policy: Policy, pin: str | None, world: World) -> bool:
    """The model is smaller than the policy's min_params_b and not what the mode is pinned to (a model
    with no published size is never judged)."""
    if arch.params_total_b is None or arch.params_total_b >= (policy.min_params_b or 0.0):
        return False
    pinned = world.find_model(pin.partition("/")[0]) if pin else None
    return pinned is None or pinned.id != arch.id


@dataclass
class Catalogue:
    """A Problem plus the labels and records needed to explain it."""

    problem: Problem
    world: World | None
    hardware: str
    pair_label: list[str]
    reasons: dict[tuple[int, int], list[str]]     # (d, j) -> why it is ruled out
    speeds: dict[str, np.ndarray]                 # pp_tps, tg_tps, ttft_s, gen_s, e2e_s (D, J)
    quality_note: list[str]                       # (J,) where the quality number came from
    priced: int = 0
    servers_priced: int = 0
    budget_requested_gib: float = 0.0
    budget_source: str = ""
    kept_free_gib: float = 0.0
    policy: Policy | None = None
    files: list[str | None] = field(default_factory=list)   # (J,) GGUF file name when the catalog knows it
    quality_lo: np.ndarray | None = None          # (J,) interval of the quality number
    quality_hi: np.ndarray | None = None
    quality_kind: list[str] = field(default_factory=list)   # (J,) "measured" or "prior"
    min_mem_gib: dict[tuple[int, int], float] = field(default_factory=dict)  # (d, j) -> GiB of the smallest covering server
    cluster: object | None = None                 # vtt.optimize.split.ClusterBudget when planning for a cluster
    onebox_of: dict[int, int] = field(default_factory=dict)   # split pair -> its one-box pair
    split_of: dict[int, int] = field(default_factory=dict)    # one-box pair -> its split pair
    split: dict[int, object] = field(default_factory=dict)    # split pair -> vtt.optimize.split.SplitPriced
    split_errors: dict[int, str] = field(default_factory=dict)  # one-box pair -> why it cannot be split
    backend: str = ""


def quality_data(world: World, policy: Policy):
    """specs/quality, with the policy's overrides of the quant table."""
    from vtt.optimize.quality import load_quality

    qd = load_quality(world)
    if policy.quant_ppl_delta:
        qd.ppl_delta.update({norm(k): float(v) for k, v in policy.quant_ppl_delta.items()})
    if policy.quant_penalty_per_ppl is not None:
        qd.penalty_per_ppl = policy.quant_penalty_per_ppl
    return qd


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


def build_catalogue(world: World, editors: dict[str, EditorModes], policy: Policy, *, hardware: str | None,
                    budget_gib: float | None = None, model_ids: list[str] | None = None,
                    cluster: str | None = None, boxes: int | None = None, link: str | None = None) -> Catalogue:
    """Every candidate priced; with `cluster` (a spec id) or `boxes` (N boxes of `hardware` on `link`),
    each model-quant is also a split candidate over the cluster (vtt.optimize.split)."""
    from vtt.errors import VttError
    from vtt.budget import resolve_budget
    from vtt.optimize.price import Pricer, resolve_catalog_model
    from vtt.optimize.quality import model_quality, quant_factor

    main_backend = None
    if cluster is not None:     # the cluster's main box is the hardware (and backend) planned for
        main = world.get_cluster(cluster).boxes[0]
        if hardware is not None and world.get_hardware(hardware).id != world.get_hardware(main.hardware).id:
            raise BadQuery(f"cluster '{cluster}' has {main.hardware} as its main box, not {hardware}",
                           hint=f"pass --hardware {main.hardware}, or leave --hardware out")
        hardware, main_backend = main.hardware, main.backend
    hw = world.get_hardware(hardware or "strix-halo-128")
    requested, budget_source = resolve_budget(hw, budget_gib)
    kept = policy.other_work_gib + policy.headroom_gib
    # an explicit --budget-gib never exceeds what the spec says the GPU may address; this machine's own
    # GTT/TTM limits may (the user raised them)
    budget = min(requested, hw.gpu_addressable_gib if budget_gib is not None else hw.memory_gib, hw.memory_gib) - kept
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
    pricer = Pricer(world, hw.id, main_backend)
    cb = split_pricer = None
    if cluster is not None or boxes is not None:
        from vtt.optimize.split import SplitPricer, cluster_budget

        cb = cluster_budget(world, hw, budget, cluster=cluster, boxes=boxes, link=link, budget_gib=budget_gib,
                            headroom_gib=policy.headroom_gib)
        split_pricer = SplitPricer(world, cb, pricer)
    elif link is not None:
        raise BadQuery("--link needs --boxes N (a cluster spec names its own link)")
    cached = np.array([md.depth for md in modes]); prompt = np.array([md.n_prompt for md in modes])
    output = np.array([md.n_gen for md in modes])
    pp = np.zeros((D, J)); tg = np.zeros((D, J)); ttft = np.full((D, J), np.inf); gen = np.full((D, J), np.inf)
    bad_pair = np.zeros(J, dtype=bool)
    srv_pair, srv_ctx, srv_mem, srv_load, srv_other = [], [], [], [], []
    size_gib = np.zeros(J)
    priced = 0
    n_other = len(cb.box_names) - 1 if cb else 0
    split_rows = []     # (one-box pair, SplitPriced) of each split pair, in order
    split_err: dict[int, str] = {}
    for j in range(J):
        a = archs[pair_model[j]]
        try:
            rm = resolve_catalog_model(world, a.id, pair_quant[j])
        except VttError:
            bad_pair[j] = True
            continue
        ladder = ladder_for(a.n_ctx_train, policy)
        mem = pricer.memory_gib(rm, ladder, kv)
        pp[:, j], tg[:, j], ttft[:, j], gen[:, j] = pricer.request(rm, cached, prompt, output, kv)
        priced += len(ladder) + 2 * D
        size_gib[j] = rm.weights.total_bytes / GIB
        for c, m in zip(ladder, mem):
            srv_pair.append(j); srv_ctx.append(c)
            srv_mem.append(float(m) + policy.cache_ram_gib)
            srv_load.append(size_gib[j] * GIB / (hw.disk_read_gbs * 1e9))
            srv_other.append(np.zeros(n_other))
        if split_pricer is not None:
            try:
                split_rows.append((j, split_pricer.price(rm, a.id, ladder, cached, prompt, output, pp[:, j], tg[:, j], kv)))
                priced += len(ladder) + 2 * D
            except VttError as e:       # kept as a reason: the model cannot be split on this cluster
                split_err[j] = e.message
    # split pairs: the same model and quant, their own prices, memory on every box
    pair_split = [False] * J
    onebox_of: dict[int, int] = {}
    split_info: dict[int, object] = {}
    if split_rows:
        from vtt.optimize.split import load_s

        extra = len(split_rows)
        pp, tg, ttft, gen = (np.hstack([x, np.zeros((D, extra))]) for x in (pp, tg, ttft, gen))
        bad_pair = np.r_[bad_pair, np.zeros(extra, dtype=bool)]
        size_gib = np.r_[size_gib, np.zeros(extra)]
        for i, (j, sp) in enumerate(split_rows):
            j2 = J + i
            pair_model.append(pair_model[j]); pair_quant.append(pair_quant[j]); files.append(files[j])
            pair_split.append(True)
            onebox_of[j2] = j
            split_info[j2] = sp
            pp[:, j2], tg[:, j2], ttft[:, j2], gen[:, j2] = sp.pp_tps, sp.tg_tps, sp.ttft_s, sp.gen_s
            size_gib[j2] = size_gib[j]
            ladder = ladder_for(archs[pair_model[j]].n_ctx_train, policy)
            for li, c in enumerate(ladder):
                srv_pair.append(j2); srv_ctx.append(c)
                srv_mem.append(float(sp.box_gib[li, 0]) + policy.cache_ram_gib)
                srv_other.append(sp.box_gib[li, 1:])
                srv_load.append(load_s(size_gib[j], sp.remote_weights_gib, hw.disk_read_gbs, cb.link_bytes_per_s))
        J = len(pair_quant)
    srv_pair = np.array(srv_pair, dtype=np.int64); srv_ctx = np.array(srv_ctx, dtype=np.int64)
    srv_mem = np.array(srv_mem); srv_load = np.array(srv_load)
    srv_other = np.array(srv_other, dtype=float).reshape(len(srv_pair), n_other)
    b_other = cb.budgets_gib[1:] if cb else np.zeros(0)
    # quality per pair: published scores or the marked prior, times the quant term
    qd = quality_data(world, policy)
    quality = np.zeros(J); q_lo = np.zeros(J); q_hi = np.zeros(J)
    qnote, qkind = [], []
    by_model = {a.id: model_quality(qd, world, a.id) for a in archs}
    for j in range(J):
        mq = by_model[archs[pair_model[j]].id]
        f, fnote = quant_factor(qd, world, pair_quant[j])
        quality[j], q_lo[j], q_hi[j] = mq.value * f, mq.lo * f, mq.hi * f
        qnote.append(f"{mq.note} {fnote}")
        qkind.append(mq.kind)
    e2e = ttft + gen
    model_ids_all = [a.id for a in archs]
    reasons: dict[tuple[int, int], list[str]] = {}
    min_mem: dict[tuple[int, int], float] = {}
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
                    r.append(f"{tg[d, j]:.1f} t/s after the prompt, under the {md.min_tg_tps:g} t/s {md.key} needs")
                if ttft[d, j] > md.max_ttft_s:
                    r.append(f"first token after {ttft[d, j]:.1f} s, over the {md.max_ttft_s:g} s {md.key} allows")
                ks = np.nonzero(srv_pair == j)[0]
                cover = [k for k in ks if srv_ctx[k] >= md.min_context]
                if not cover:
                    r.append(f"context at most {max(ladder_for(a.n_ctx_train, policy))} under the {md.min_context} {md.key} needs")
                elif not pair_split[j]:
                    min_mem[d, j] = min(srv_mem[k] for k in cover)
                    if min_mem[d, j] > budget + 1e-9:
                        where = f" of {cb.box_names[0]} alone" if cb else ""
                        r.append(f"{min_mem[d, j]:.1f} GiB at {md.min_context} tokens, over the {budget:.1f} GiB budget{where}")
                else:
                    k0 = min(cover, key=lambda k: srv_ctx[k])      # memory grows with context: the smallest is the best
                    min_mem[d, j] = srv_mem[k0]
                    over = np.r_[srv_mem[k0] - budget, srv_other[k0] - b_other]
                    if (over > 1e-9).any():
                        b = int(np.argmax(over))
                        box_gib = np.r_[srv_mem[k0], srv_other[k0]]
                        r.append(f"does not fit even split over {len(cb.box_names)} boxes on {cb.link}: "
                                 f"{cb.box_names[b]} needs {box_gib[b]:.1f} GiB at {md.min_context} tokens, over its "
                                 f"{cb.budgets_gib[b]:.1f} GiB budget")
            if (qkind[j] == "prior" and policy.missing_quality == "exclude"
                    and md.w_quality >= policy.quality_mode_threshold):
                r.append(f"no published coding score (policy missing_quality: exclude, quality weight "
                         f"{md.w_quality:g} >= {policy.quality_mode_threshold:g})")
            if under_size_floor(a, policy, pin, world):
                r.append(f"{a.params_total_b:g} B parameters, under the policy's min_params_b {policy.min_params_b:g} "
                         f"(pin it to use it anyway)")
            if pin and (pin_arch is None or pin_arch.id != a.id or (pin_q and norm(pin_q) != norm(pair_quant[j])
                                                                   and world.find_quant(pin_q).id != pair_quant[j])):
                r.append(f"{md.key} is pinned to {pin}")
            if r:
                reasons[d, j] = r
                allowed[d, j] = False
            value[d, j] = mode_value(md, quality[j], tg[d, j], ttft[d, j]) if not bad_pair[j] else 0.0
            if qkind[j] == "prior":  # a guessed quality never wins a tie against a published one
                value[d, j] *= 1.0 - PRIOR_TIE
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
    keep &= (srv_mem <= budget + 1e-9) & (srv_other <= b_other[None, :] + 1e-9).all(axis=1)
    prob = Problem(
        modes=modes, models=model_ids_all, pair_model=np.array(pair_model, dtype=np.int64), pair_quant=pair_quant,
        quality=quality, srv_pair=srv_pair[keep], srv_ctx=srv_ctx[keep], srv_mem=srv_mem[keep],
        srv_load_s=srv_load[keep], value=value, allowed=allowed, swap_s=swap_s, pairs=sess_pairs, never=never,
        budget_gib=budget, set_penalty=policy.set_penalty if policy.prefer_resident else 0.0,
        swap_weight=policy.swap_weight, srv_mem_other=srv_other[keep], budget_other=b_other,
        pair_split=np.array(pair_split, dtype=bool),
    )
    labels = [f"{model_ids_all[pair_model[j]]}/{pair_quant[j]}" + (f" split over {len(cb.box_names)} boxes" if pair_split[j] else "")
              for j in range(J)]
    return Catalogue(prob, world, hw.id, labels, reasons,
                     {"pp_tps": pp, "tg_tps": tg, "ttft_s": ttft, "gen_s": gen, "e2e_s": e2e}, qnote,
                     priced=priced, servers_priced=len(srv_pair), budget_requested_gib=requested,
                     budget_source=budget_source, kept_free_gib=kept, policy=policy, files=files,
                     quality_lo=q_lo, quality_hi=q_hi, quality_kind=qkind, min_mem_gib=min_mem,
                     cluster=cb, onebox_of=onebox_of, split_of={j: j2 for j2, j in onebox_of.items()},
                     split=split_info, split_errors=split_err, backend=pricer.be.id)
