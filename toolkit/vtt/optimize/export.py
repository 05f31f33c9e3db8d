"""Exports of a plan: llama-swap config (v225+ routing.router groups), Roo Code settings, Claude Code settings.

Schemas follow validation/data/reference/editors_and_exports.md (llama-swap @0bdb372, Roo Code v3.52.1, Claude Code docs).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

BASE_URL = "http://127.0.0.1:8080"   # llama-swap's default listen address


# ---- a small schema of the documented llama-swap keys, to validate what we write ----
class _SwapModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cmd: str = Field(min_length=1)
    cmdStop: str | None = None
    proxy: str | None = None
    checkEndpoint: str | None = None
    ttl: int | None = None
    unloadTimeout: int | None = None
    env: list[str] | None = None
    aliases: list[str] | None = None
    useModelName: str | None = None
    unlisted: bool | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict | None = None
    concurrencyLimit: int | None = None


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    swap: bool = True
    exclusive: bool = True
    persistent: bool = False
    members: list[str]


class _RouterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: dict[str, _Group] | None = None
    matrix: dict | None = None


class _Router(BaseModel):
    model_config = ConfigDict(extra="forbid")
    use: Literal["group", "matrix"] = "group"
    settings: _RouterSettings


class _Routing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    router: _Router


class LlamaSwapConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    healthCheckTimeout: int | None = None
    startPort: int | None = None
    globalTTL: int | None = None
    unloadTimeout: int | None = None
    logLevel: str | None = None
    macros: dict[str, str] | None = None
    models: dict[str, _SwapModel]
    routing: _Routing | None = None
    groups: dict[str, _Group] | None = None   # v107-v224 layout; cannot be mixed with routing (v225+)

    @model_validator(mode="after")
    def _groups(self):
        if self.routing is not None and self.groups is not None:
            raise ValueError("top-level groups and routing.router cannot be mixed (v225+ load error)")
        groups = self.groups or (self.routing.router.settings.groups if self.routing else None) or {}
        seen: dict[str, str] = {}
        for g, grp in groups.items():
            for m in grp.members:
                if m not in self.models:
                    raise ValueError(f"group {g} names unknown model {m}")
                if m in seen:
                    raise ValueError(f"model {m} is in groups {seen[m]} and {g}: a model may be in one group only")
                seen[m] = g
        return self


def llama_swap_config(plan: dict, models_dir: str = "/models") -> dict:
    kv = plan.get("policy", {}).get("kv_type") or "f16"
    cache_ram = plan.get("policy", {}).get("cache_ram_gib") or 0
    cram = "--cache-ram 0" if not cache_ram else f"--cache-ram {int(cache_ram * 1024)}"
    models, groups = {}, {}
    for s in plan["resident_sets"]:
        members = []
        for m in s["models"]:
            sid = m.get("server") or f"{m['model']}-{m['quant']}".lower()
            fname = m.get("file") or f"{m['model']}-{m['quant']}.gguf"
            models[sid] = {
                "cmd": (f"${{srv}} -m ${{models}}/{fname} -c {m['context']} -np 1 -ctk {kv} -ctv {kv} {cram}"),
                "ttl": 0,
                "description": f"{m['model']} {m['quant']} at {m['context']} tokens: {m['total_gib']:.1f} GiB (vtt)",
            }
            members.append(sid)
        groups[str(s["id"])] = {"swap": False, "exclusive": True, "members": members}
    cfg = {
        "healthCheckTimeout": 300,
        "startPort": 10001,
        "macros": {
            "srv": "llama-server --host 127.0.0.1 --port ${PORT} --jinja -fa on -ngl 999 --no-mmap",
            "models": models_dir,
        },
        "models": models,
        "routing": {"router": {"use": "group", "settings": {"groups": groups}}},
    }
    LlamaSwapConfig.model_validate(cfg)
    return cfg


def roo_settings(plan: dict) -> dict:
    confs, mode_cfg = {}, {}
    for a in plan["assignments"]:
        if a["editor"] != "roo":
            continue
        name = f"vtt-{a['server']}"
        if name not in confs:
            confs[name] = {
                "id": f"vtt-{len(confs) + 1}", "apiProvider": "openai", "openAiBaseUrl": f"{BASE_URL}/v1",
                "openAiApiKey": "none", "openAiModelId": a["server"],
                "openAiCustomModelInfo": {"contextWindow": a["context"], "maxTokens": 8192,
                                          "supportsPromptCache": False, "supportsImages": False},
            }
        mode_cfg[a["mode"]] = confs[name]["id"]
    current = next(iter(confs), None)
    code = next((a for a in plan["assignments"] if a["editor"] == "roo" and a["mode"] == "code"), None)
    if code:
        current = f"vtt-{code['server']}"
    return {"providerProfiles": {"currentApiConfigName": current, "apiConfigs": confs, "modeApiConfigs": mode_cfg},
            "globalSettings": {}}


def claude_code_settings(plan: dict) -> dict:
    by_mode = {a["mode"]: a["server"] for a in plan["assignments"] if a["editor"] == "claude-code"}
    edit = by_mode.get("edit") or next(iter(by_mode.values()), None)
    plan_m = by_mode.get("plan", edit)
    chat = by_mode.get("chat", edit)
    return {"model": "opusplan", "env": {
        "ANTHROPIC_BASE_URL": BASE_URL, "ANTHROPIC_AUTH_TOKEN": "none",
        "ANTHROPIC_DEFAULT_OPUS_MODEL": plan_m, "ANTHROPIC_DEFAULT_SONNET_MODEL": edit,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": chat, "CLAUDE_CODE_SUBAGENT_MODEL": edit,
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0"}}


def export(plan: dict, kind: str) -> tuple[str, str]:
    """(text, format) of an export kind: llama-swap (yaml), roo (json), claude-code (json)."""
    import json

    if kind == "llama-swap":
        import yaml

        return yaml.safe_dump(llama_swap_config(plan), sort_keys=False), "yaml"
    if kind == "roo":
        return json.dumps(roo_settings(plan), indent=2), "json"
    if kind == "claude-code":
        return json.dumps(claude_code_settings(plan), indent=2), "json"
    from vtt.errors import BadQuery

    raise BadQuery(f"unknown export '{kind}': use llama-swap, roo or claude-code")
