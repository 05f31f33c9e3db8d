"""The optimizer's input as plain arrays, so the MILP and the brute force see the same numbers.

Indices: d = mode, j = (model, quant) pair, k = server (a model-quant at one context), m = model.
Speeds depend on the mode's request (depth, n_prompt) and not on the server's context; memory
depends on the context and not on the mode. So a mode picks a pair j, and j's deployed server
must have a context covering the mode's need.

On a cluster (vtt.optimize.split) a model-quant split across the boxes is a pair of its own (same model
index, its own speeds), and every server has memory on each box: `srv_mem` on the main box, against
`budget_gib`, and `srv_mem_other` on the other boxes, against `budget_other`. A resident set keeps
every box within its budget. Without a cluster `srv_mem_other` has no columns and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModeReq:
    key: str            # "editor/mode"
    editor: str
    mode: str
    min_context: int
    min_tg_tps: float
    max_ttft_s: float
    w_quality: float
    w_speed: float
    share: float
    depth: int
    n_prompt: int
    n_gen: int


@dataclass
class Problem:
    modes: list[ModeReq]
    models: list[str]
    pair_model: np.ndarray          # (J,) model index of each pair
    pair_quant: list[str]           # (J,)
    quality: np.ndarray             # (J,) 0..1 after the quant factor; nan = no sourced score
    srv_pair: np.ndarray            # (K,) pair index of each server
    srv_ctx: np.ndarray             # (K,) context
    srv_mem: np.ndarray             # (K,) GiB including --cache-ram
    srv_load_s: np.ndarray          # (K,) seconds to read the file
    value: np.ndarray               # (D, J) objective value of serving mode d with pair j
    allowed: np.ndarray             # (D, J) bool: speed, TTFT, quality and pins allow it
    swap_s: np.ndarray              # (D, J) seconds lost when a swap lands on mode d served by j
    pairs: list[tuple[int, int, float]] = field(default_factory=list)  # (d1, d2, switches per hour)
    never: list[tuple[int, int]] = field(default_factory=list)         # model index pairs
    budget_gib: float = 0.0
    set_penalty: float = 0.0
    swap_weight: float = 1.0
    mem_epsilon: float = 1e-4       # tiny cost per GiB deployed: no idle servers, smallest covering context
    srv_mem_other: np.ndarray | None = None  # (K, B-1) GiB on the other boxes of a cluster; None: one box
    budget_other: np.ndarray | None = None   # (B-1,) their budgets
    pair_split: np.ndarray | None = None     # (J,) bool: the pair runs split across the cluster

    def mem_other(self) -> np.ndarray:
        """(K, B-1) memory on the other boxes (no columns on one box)."""
        K = len(self.srv_pair)
        if self.srv_mem_other is None or len(self.srv_mem_other) != K:
            return np.zeros((K, 0))
        return self.srv_mem_other

    def other_budgets(self) -> np.ndarray:
        return np.zeros(0) if self.budget_other is None else np.asarray(self.budget_other, dtype=float)

    def fits_alone(self) -> np.ndarray:
        """(K,) bool: server k alone fits every box."""
        return (self.srv_mem <= self.budget_gib + 1e-9) & (self.mem_other() <= self.other_budgets()[None, :] + 1e-9).all(axis=1)

    def serves(self, d: int, k: int) -> bool:
        """Can server k serve mode d (pair allowed, context covers, fits alone)?"""
        j = self.srv_pair[k]
        if not (self.allowed[d, j] and self.srv_ctx[k] >= self.modes[d].min_context
                and self.srv_mem[k] <= self.budget_gib + 1e-9):
            return False
        other = self.srv_mem_other
        return other is None or len(other) != len(self.srv_pair) or bool(
            (other[k] <= self.other_budgets() + 1e-9).all())


@dataclass
class Solution:
    status: str                     # "optimal" or "infeasible"
    objective: float | None
    mode_pair: list[int]            # (D,) chosen pair per mode
    servers: list[int]              # deployed server indices
    sets: list[list[int]]           # server indices per resident set
    reason: str | None = None
    solve_s: float = 0.0
    n_vars: int = 0
    n_cons: int = 0
    proof: str = ""                 # how optimality was proven (the set-count ladder rung)
