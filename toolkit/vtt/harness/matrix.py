"""A benchmark matrix (vtt.specs.bench_matrix, or llama-bench-like flags) expanded into cells.

One cell = one model x one parameter combination x one test (ppN or tgN at one depth),
which is one llama-bench process and one result row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtt.errors import BadQuery
from vtt.specs.bench_matrix import BenchMatrix, load_matrix  # noqa: F401  (the spec lives in specs/)

# matrix field -> (llama-bench flag, how a value is written)
FLAGS: dict[str, tuple[str, Any]] = {
    "threads": ("-t", str),
    "flash_attn": ("-fa", lambda v: "on" if v else "off"),
    "n_ubatch": ("-ub", str),
    "n_batch": ("-b", str),
    "type_k": ("-ctk", str),
    "type_v": ("-ctv", str),
    "n_gpu_layers": ("-ngl", str),
    "mmap": ("-lm", lambda v: "mmap" if v else "none"),
}


@dataclass(frozen=True)
class Cell:
    model: str
    n_prompt: int
    n_gen: int
    n_depth: int
    repetitions: int
    params: tuple = field(default=())  # sorted (name, value) pairs of the set parameters

    @property
    def test(self) -> str:
        name = f"pp{self.n_prompt}" if self.n_prompt else f"tg{self.n_gen}"
        return f"{name} @ d{self.n_depth}" if self.n_depth else name

    @property
    def key(self) -> str:
        """Stable identity for --resume: same model file, test and parameters."""
        from vtt.store import content_hash

        return content_hash([self.model, self.n_prompt, self.n_gen, self.n_depth, self.repetitions,
                             list(self.params)])

    def llama_bench_args(self) -> list[str]:
        args = ["-m", self.model, "-p", str(self.n_prompt), "-n", str(self.n_gen), "-d", str(self.n_depth),
                "-r", str(self.repetitions), "-o", "jsonl"]
        for name, value in self.params:
            flag, fmt = FLAGS[name]
            args += [flag, fmt(value)]
        return args

    def as_record(self) -> dict:
        """The llama-bench fields this cell fixes, for the row of a failed cell."""
        record = {"model_filename": self.model, "n_prompt": self.n_prompt, "n_gen": self.n_gen,
                  "n_depth": self.n_depth}
        names = {"threads": "n_threads", "mmap": "use_mmap"}
        for name, value in self.params:
            record[names.get(name, name)] = int(value) if name == "flash_attn" else value
        return record


def expand_cells(matrix: BenchMatrix, base_dir: Path | None = None) -> list[Cell]:
    """All cells, models outermost; relative model paths are taken from `base_dir`."""
    set_params = [(name, getattr(matrix, name)) for name in FLAGS if getattr(matrix, name) is not None]
    cells = []
    for model in matrix.models:
        path = Path(model).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise BadQuery(f"model file not found: {path}")
        for combo in itertools.product(*(values for _, values in set_params)):
            params = tuple(sorted(zip((n for n, _ in set_params), combo)))
            for depth in matrix.n_depth:
                tests = [(p, 0) for p in matrix.n_prompt if p > 0] + [(0, g) for g in matrix.n_gen if g > 0]
                for n_prompt, n_gen in tests:
                    cells.append(Cell(str(path.resolve()), n_prompt, n_gen, depth, matrix.repetitions, params))
    if not cells:
        raise BadQuery("the matrix has no tests: every n_prompt and n_gen is 0")
    return cells


def parse_int_list(text: str | None, name: str) -> list[int] | None:
    """llama-bench style '1,2,4' (ranges 'a-b' and 'a-b+s' too)."""
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                first, _, rest = part.partition("-")
                last, plus, step = rest.partition("+")
                out += list(range(int(first), int(last) + 1, int(step) if plus else 1))
            else:
                out.append(int(part))
    except ValueError:
        raise BadQuery(f"bad value for {name}: '{text}' (want integers like 1,2,4)") from None
    return out


def parse_bool_list(text: str | None, name: str) -> list[bool] | None:
    if text is None:
        return None
    words = {"1": True, "on": True, "true": True, "0": False, "off": False, "false": False}
    try:
        return [words[p.strip().lower()] for p in str(text).split(",")]
    except KeyError:
        raise BadQuery(f"bad value for {name}: '{text}' (want on/off or 1/0)") from None
