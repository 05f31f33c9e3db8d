"""Price optimizer candidates with the cost model directly, in arrays (not through plan_many's JSON answers).

Request-level timing, the same as `vtt plan --request`: a mode's request has C cached tokens, P new prompt
tokens and O output tokens. TTFT is the prefill of the P tokens at depth C (llama-bench `-p P -d C`:
ttft = P / pp_tps). Generation starts after the prompt: O tokens at depth C + P (llama-bench `-n O -d C+P`:
gen = O / tg_tps). e2e = ttft + gen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtt.units import GIB


@dataclass
class Priced:
    """Arrays over the queries of one (model, quant)."""

    total_gib: np.ndarray
    weights_gib: float
    pp_tps: np.ndarray
    tg_tps: np.ndarray
    ttft_s: np.ndarray
    gen_s: np.ndarray


_RESOLVED: dict = {}


def resolve_catalog_model(world, model_id: str, quant: str):
    """vtt.plan.resolve_model for a catalog model, memoised per (world, model, quant): the weight profile
    walks every tensor of the model (~0.01 s each), and optimize, check and fit ask for the same pairs."""
    from vtt.plan import resolve_model

    key = (id(world), model_id, quant)
    hit = _RESOLVED.get(key)
    if hit is None or hit[0] is not world:
        hit = (world, resolve_model(world, model_id, quant, None))
        if len(_RESOLVED) > 4096:
            _RESOLVED.clear()
        _RESOLVED[key] = hit
    return hit[1]


class Pricer:
    """One hardware x backend; calibrations are read once per pricer (not patched into vtt.plan)."""

    def __init__(self, world, hardware: str, backend: str | None = None):
        from vtt.calibration import find_calibration

        self.world = world
        hw = world.get_hardware(hardware)
        self.be = world.get_backend(backend or hw.default_backend)
        self.hw_spec = hw
        if self.be.api == "cpu":  # the CPU backend runs on the CPU's bandwidth and FLOPs (as vtt plan does)
            hw = hw.model_copy(update={"mem_bandwidth_gbs": hw.cpu_bandwidth_gbs or hw.mem_bandwidth_gbs,
                                       "fp16_tflops": hw.cpu_tflops or hw.fp16_tflops / 20})
        self.hw = hw
        self.cal = find_calibration(world.roots, hw.id, self.be.id, None, self.be.defaults)

    def _arrays(self, ctx, depth, n_prompt, n_gen, kv: str) -> dict:
        n = len(ctx)
        return {"context": np.asarray(ctx, dtype=np.int64), "depth": np.asarray(depth, dtype=np.int64),
                "n_prompt": np.asarray(n_prompt, dtype=np.int64), "n_gen": np.asarray(n_gen, dtype=np.int64),
                "n_ubatch": np.full(n, 512, dtype=np.int64), "parallel": np.ones(n, dtype=np.int64),
                "flash_attn": np.ones(n, dtype=bool), "type_k": [kv] * n, "type_v": [kv] * n,
                "mla_v_less": True, "kv_unified": False, "swa_full": False}  # MLA: K only, as the pinned llama.cpp (PR #19067)

    def memory_gib(self, rm, contexts: list[int], kv: str) -> np.ndarray:
        from vtt.cost.predict import memory_breakdown

        n = len(contexts)
        arr = self._arrays(contexts, [0] * n, [1] * n, [1] * n, kv)
        mem = memory_breakdown(rm, arr, self.be.compute_overhead_gib, self.hw.unified_memory)
        return mem.total_bytes / GIB

    def speed(self, rm, depth, n_prompt, n_gen, kv: str) -> tuple[np.ndarray, np.ndarray]:
        """(pp_tps, tg_tps) as llama-bench reports them for -p n_prompt -n n_gen -d depth."""
        from vtt.cost.depth_curve import attach
        from vtt.cost.predict import predict_speed, speed_features

        depth, n_prompt, n_gen = (np.asarray(x, dtype=np.int64) for x in (depth, n_prompt, n_gen))
        arr = self._arrays(depth + n_prompt + n_gen, depth, n_prompt, n_gen, kv)
        # the backend picks the attention kernel path; the calibration's depth curves its rate at depth
        feats = attach(speed_features(rm, self.hw, arr, self.be), self.cal.attn_depth)
        sp = predict_speed(feats, self.cal.all_params(), self.cal.sigma_log, self.cal.param_names or None, None)
        return sp["pp_tps"], sp["tg_tps"]

    def request(self, rm, cached, prompt, output, kv: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(pp_tps at depth C, tg_tps at depth C + P, ttft_s, gen_s) of requests (C, P, O)."""
        cached, prompt, output = (np.asarray(x, dtype=np.int64) for x in (cached, prompt, output))
        n = len(cached)
        ones = np.ones(n, dtype=np.int64)
        # one cost-model call: the prefill rows (-p P -d C), then the generation rows (-n O -d C+P)
        pp2, tg2 = self.speed(rm, np.concatenate([cached, cached + prompt]), np.concatenate([prompt, ones]),
                              np.concatenate([ones, output]), kv)
        pp, tg = pp2[:n], tg2[n:]
        with np.errstate(divide="ignore", invalid="ignore"):
            ttft = np.where(pp > 0, prompt / np.where(pp > 0, pp, 1), np.inf)
            gen = np.where(tg > 0, output / np.where(tg > 0, tg, 1), np.inf)
        return pp, tg, ttft, gen
