"""The optimizer's inputs from the spec roots: the world, the editors' modes and the merged policy.
Shared by `vtt optimize`, `vtt check` and the library function `vtt.optimize.optimize`."""

from __future__ import annotations

from pathlib import Path


def load_inputs(policies: list[Path] | None = None, editors: str | list[str] | None = None, world=None):
    """(world, editor modes, merged policy)."""
    from vtt.errors import BadQuery
    from vtt.specs.catalog import default_world
    from vtt.specs.mode import load_modes
    from vtt.specs.policy import load_policies

    world = world or default_world()
    eds = load_modes(world.roots)
    if editors:
        want = editors.split(",") if isinstance(editors, str) else list(editors)
        want = [e.strip().lower() for e in want if e.strip()]
        bad = [e for e in want if e not in eds]
        if bad:
            raise BadQuery(f"unknown editor '{bad[0]}': use {', '.join(eds)}")
        eds = {e: eds[e] for e in want}
    paths = list(policies) if policies else [r / "policies" for r in world.roots if (r / "policies").is_dir()]
    return world, eds, load_policies(paths, world)
