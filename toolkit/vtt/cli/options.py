"""CLI options every command spells the same way, declared once.

Use them as parameter annotations: `db: DbOption = None`, `json_out: JsonOption = False`. Each
command keeps its own default (`= None` or a spec id) and, where it needs one, its own help via
`typer.Option(...)`; these are the common case. Imports typer only, so `vtt plan` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DB_HELP = "DuckDB file (default: $XDG_DATA_HOME/vtt/vtt.duckdb, i.e. ~/.local/share/vtt/vtt.duckdb)"

DbOption = Annotated[Optional[Path], typer.Option("--db", help=DB_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
HardwareOption = Annotated[Optional[str], typer.Option("--hardware", help="hardware spec id (vtt catalog hardware)")]
BackendOption = Annotated[Optional[str], typer.Option("--backend", help="backend spec id: vulkan-radv, vulkan-amdvlk, rocm, cpu ... (vtt catalog backends)")]
