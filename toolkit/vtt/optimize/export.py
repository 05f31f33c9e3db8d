"""Exports of a plan: llama-swap config, Roo Code settings, Claude Code settings, Cursor instructions.

Schemas follow validation/data/reference/editors_and_exports.md (llama-swap @0bdb372, Roo Code v3.52.1, Claude Code docs).
Every export names what it targets: the llama.cpp build whose llama-server flags it uses (flags checked against
that build's common/arg.cpp) and the llama-swap version. Co-resident sets go in top-level `groups` (v107+; v225+
still reads it), never in `routing` (v225+ only: older versions ignore it and swap co-resident models out).
Command lines are argument lists, quoted with shlex.quote, so no spec or file value reaches a shell unquoted.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
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


# llama-server flags per llama.cpp build vtt knows, read from that build's common/arg.cpp. The pinned build
# (0c1e570, llama-cpp-python 0.3.36 sdist) replaced --no-mmap with -lm/--load-mode (arg.cpp "--load-mode").
PINNED_LLAMA_CPP = "0c1e570"
LLAMA_CPP_FLAGS = {
    "0c1e570": {"no_mmap": ["-lm", "none"], "flash_attn": ["-fa", "on"], "jinja": ["--jinja"],
                "cache_ram": "--cache-ram", "kv_unified": "-kvu", "parallel": "-np", "alias": "-a",
                # a model split across boxes (common/arg.cpp "--rpc", "-ts", "-dev"; ggml-rpc.cpp names the
                # devices RPC0, RPC1, ... in --rpc order) and the server each other box runs
                # (tools/rpc/rpc-server.cpp: -H host, -p port, default 50052)
                "rpc": "--rpc", "tensor_split": "-ts", "device": "-dev", "rpc_server": "ggml-rpc-server",
                "rpc_port": 50052},
}
LLAMA_SWAP_DEFAULT = 250     # the snapshot in editors_and_exports.md (mostlygeek/llama-swap @0bdb372)
LLAMA_SWAP_MIN = 107         # top-level `groups` first appeared in v107 (before: `profiles`)
_MACRO = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass
class Target:
    """What an export is for. Defaults: the pinned llama.cpp and the llama-swap snapshot vtt was checked on."""

    llama_cpp_build: str = PINNED_LLAMA_CPP
    llama_swap_version: int = LLAMA_SWAP_DEFAULT
    llama_server: str = "llama-server"
    models_dir: Path | None = None

    def __post_init__(self):
        from vtt.errors import BadQuery

        b = self.llama_cpp_build.lower().removeprefix("b")
        key = next((k for k in LLAMA_CPP_FLAGS if k.startswith(b) or b.startswith(k)), None) if b else None
        if key is None:
            raise BadQuery(f"unknown llama.cpp build '{self.llama_cpp_build}' for exports",
                           hint=f"vtt knows the llama-server flags of: {', '.join(LLAMA_CPP_FLAGS)}")
        self.llama_cpp_build = key
        if self.llama_swap_version < LLAMA_SWAP_MIN:
            raise BadQuery(f"llama-swap v{self.llama_swap_version} has no groups (they start at v{LLAMA_SWAP_MIN})",
                           hint="upgrade llama-swap, or pass --llama-swap-version 107 or newer")

    @property
    def flags(self) -> dict:
        return LLAMA_CPP_FLAGS[self.llama_cpp_build]

    def describe(self) -> str:
        return (f"llama.cpp {self.llama_cpp_build} (llama-server flags from its common/arg.cpp), "
                f"llama-swap v{self.llama_swap_version} (top-level groups, read by v{LLAMA_SWAP_MIN}+)")


@dataclass
class Export:
    text: str
    format: str
    notes: list[str] = field(default_factory=list)


def shell_join(argv: list[str]) -> str:
    """One command line from an argument list: every argument shlex-quoted, except a bare llama-swap macro
    (${PORT}), which llama-swap substitutes before it splits the line."""
    return " ".join(a if _MACRO.fullmatch(a) else shlex.quote(a) for a in argv)


def model_paths(plan: dict, target: Target, world=None) -> tuple[dict[str, str], list[str]]:
    """server id -> GGUF path. With a models dir, from a scan of its real files (a missing one is an error);
    without one, the catalog's published file name, flagged as unchecked in the notes."""
    from vtt.errors import BadQuery

    members = [m for s in plan["resident_sets"] for m in s["models"]]
    out, notes = {}, []
    if target.models_dir is not None:
        from vtt.optimize.files import scan_models_dir
        from vtt.specs.catalog import default_world

        world = world or default_world()
        found = scan_models_dir(target.models_dir, world)
        missing = []
        for m in members:
            mid = world.model(m["model"]).id
            qid = world.quant(m["quant"]).id
            f = found.get((mid, qid))
            if f is None:
                missing.append(f"{m['model']}/{m['quant']}")
            else:
                out[_sid(m)] = str(f.path)
        if missing:
            have = ", ".join(f"{a}/{b}" for a, b in sorted(found)) or "none"
            raise BadQuery(f"no GGUF file in {target.models_dir} for {', '.join(missing)} (found: {have})",
                           hint="download them, or point --models-dir at the folder that has them")
        return out, notes
    for m in members:
        name = m.get("file") or f"{m['model']}-{m['quant']}.gguf"
        out[_sid(m)] = str(Path("/models") / name)
    notes.append("model paths are the catalog's file names under /models, not checked: pass --models-dir to "
                 "take them from the GGUF files you have")
    return out, notes


def _sid(m: dict) -> str:
    return m.get("server") or f"{m['model']}-{m['quant']}".lower()


def _claude_servers(plan: dict) -> set[str]:
    """Servers of Claude Code's interactive loop (chat, edit): they get a second slot for background and
    subagent calls, so those never evict the main conversation's prompt cache."""
    return {a["server"] for a in plan["assignments"] if a["editor"] == "claude-code" and a["mode"] in ("edit", "chat")}


def server_argv(m: dict, path: str, target: Target, *, kv: str, cache_ram_gib: float, slots: int) -> list[str]:
    f = target.flags
    argv = [target.llama_server, "--host", "127.0.0.1", "--port", "${PORT}", "-m", path,
            "-c", str(int(m["context"])), f["parallel"], str(slots)]
    if slots > 1:
        argv.append(f["kv_unified"])     # one KV pool of -c cells shared by the slots: same memory as one slot
    argv += ["-ctk", kv, "-ctv", kv, f["cache_ram"], str(int(round(cache_ram_gib * 1024))),
             *f["flash_attn"], "-ngl", "999", *f["jinja"], *f["no_mmap"], f["alias"], _sid(m)]
    split = m.get("split")
    if split:   # llama.cpp RPC: the other boxes' rpc-servers, in the device order vtt planned
        eps = rpc_endpoints(split, target)
        argv += [f["rpc"], ",".join(eps)]
        if split.get("tensor_split"):
            argv += [f["tensor_split"], ",".join(f"{x:g}" for x in split["tensor_split"])]
        if not split.get("main_device", True):      # every device is an rpc-server: not the main host's GPU
            argv += [f["device"], ",".join(f"RPC{i}" for i in range(len(eps)))]
    return argv


def rpc_endpoints(split: dict, target: Target) -> list[str]:
    """host:port of each other box's rpc-server: the cluster spec's endpoints, else a placeholder that names
    the box (BOX2_HOST:50052) for the user to replace."""
    port = target.flags["rpc_port"]
    names = split.get("boxes") or []
    eps = split.get("endpoints") or [None] * len(names)
    return [e or f"{re.sub(r'[^A-Za-z0-9]', '_', str(n)).upper()}_HOST:{port}" for n, e in zip(names[1:], eps[1:])]


def rpc_comment(plan: dict, target: Target) -> str:
    """The comment an export with split models starts with: what to run on each other box first."""
    splits = [m["split"] for s in plan["resident_sets"] for m in s["models"] if m.get("split")]
    if not splits:
        return ""
    f = target.flags
    sp = splits[0]
    lines = [f"# Models split across boxes (llama.cpp RPC, cluster {sp['cluster']} on {sp['link']}): first start "
             f"the rpc-server on each other box,"]
    for name, ep in zip(sp["boxes"][1:], rpc_endpoints(sp, target)):
        host, _, port = ep.rpartition(":")
        lines.append(f"#   on {name}: {f['rpc_server']} -H 0.0.0.0 -p {port}   (it serves {ep}; the binary is "
                     f"rpc-server in older llama.cpp builds)")
    lines.append("# The RPC protocol has no authentication: keep those ports on a trusted network.")
    if any("_HOST:" in ep for ep in rpc_endpoints(sp, target)):
        lines.append("# Replace each BOXn_HOST with that box's address (or declare endpoints in a cluster spec).")
    return "\n".join(lines) + "\n"


def llama_swap_config(plan: dict, target: Target | None = None, world=None) -> tuple[dict, list[str]]:
    target = target or Target()
    kv = str(plan.get("policy", {}).get("kv_type") or "f16")
    cache_ram = float(plan.get("policy", {}).get("cache_ram_gib") or 0)
    paths, notes = model_paths(plan, target, world)
    two_slots = _claude_servers(plan)
    models, groups = {}, {}
    for s in plan["resident_sets"]:
        members = []
        for m in s["models"]:
            sid = _sid(m)
            argv = server_argv(m, paths[sid], target, kv=kv, cache_ram_gib=cache_ram,
                               slots=2 if sid in two_slots else 1)
            models[sid] = {
                "cmd": shell_join(argv),
                "ttl": 0,
                "description": f"{m['model']} {m['quant']} at {m['context']} tokens: {m['total_gib']:.1f} GiB"
                               + (f" split over {len(m['split']['boxes'])} boxes ({', '.join(f'{g:.1f}' for g in m['box_gib'])} GiB)"
                                  if m.get("split") else "") + " (vtt)",
                "metadata": {"vtt_llama_cpp_build": target.llama_cpp_build,
                             "vtt_llama_swap_version": target.llama_swap_version},
            }
            members.append(sid)
        groups[str(s["id"])] = {"swap": False, "exclusive": True, "members": members}
    cfg = {"healthCheckTimeout": 300, "startPort": 10001, "models": models, "groups": groups}
    LlamaSwapConfig.model_validate(cfg)
    if rpc_comment(plan, target):
        notes.append("some models run split across boxes: start the rpc-server on each other box first (the "
                     "export's first lines say how)")
    return cfg, notes


def _digest(plan: dict) -> str:
    """A short id of this plan, so two exports never share profile ids."""
    body = json.dumps({k: plan.get(k) for k in ("assignments", "resident_sets", "hardware")}, sort_keys=True,
                      default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:8]


def roo_settings(plan: dict) -> dict:
    tag = _digest(plan)
    confs, mode_cfg = {}, {}
    for a in plan["assignments"]:
        if a["editor"] != "roo":
            continue
        name = f"vtt-{a['server']}"
        if name not in confs:
            confs[name] = {
                "id": f"vtt-{tag}-{len(confs) + 1}", "apiProvider": "openai", "openAiBaseUrl": f"{BASE_URL}/v1",
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


ROO_IMPORT = ("import it with the Import button of Roo Code's settings and pick this file, or set the VS Code "
              "setting roo-cline.autoImportSettingsPath to its absolute path and reload the window; import merges "
              "profiles by name and binds each mode to its profile (Sticky Models)")


def claude_code_settings(plan: dict) -> tuple[dict, list[str]]:
    """opusplan: plan mode on the plan model (OPUS), the interactive loop on the edit model (SONNET), which
    chat maps to as well: Claude Code has one interactive model. Background (HAIKU) and subagent calls go to
    a second slot of the interactive server (the llama-swap export gives it -np 2 -kvu), or to chat's own
    server when the plan put chat on another model, so the main prompt cache is never evicted."""
    cc = {a["mode"]: a for a in plan["assignments"] if a["editor"] == "claude-code"}
    edit = cc.get("edit") or cc.get("chat") or next(iter(cc.values()), None)
    if edit is None:
        return {}, ["the plan assigns no Claude Code mode"]
    plan_a = cc.get("plan", edit)
    chat = cc.get("chat", edit)
    notes = []
    background = edit["server"]
    if chat["server"] != edit["server"]:
        background = chat["server"]
        notes.append(f"Claude Code has one interactive model: chat and edit both run on {edit['server']}; "
                     f"{chat['server']} (the plan's chat model) serves background calls on its own server")
    else:
        notes.append(f"background and subagent calls use the second slot of {edit['server']} (-np 2 -kvu), "
                     "so the main conversation keeps its prompt cache")
    ctx = int(edit.get("context") or 0)
    notes.append(f"context window Claude Code really has: {ctx} tokens on {edit['server']} (one KV pool shared "
                 f"with background calls while they run); plan mode: {int(plan_a.get('context') or 0)} tokens "
                 f"on {plan_a['server']}. Claude Code assumes a larger window: compact before it fills.")
    env = {"ANTHROPIC_BASE_URL": BASE_URL, "ANTHROPIC_AUTH_TOKEN": "none",
           "ANTHROPIC_DEFAULT_OPUS_MODEL": plan_a["server"], "ANTHROPIC_DEFAULT_SONNET_MODEL": edit["server"],
           "ANTHROPIC_DEFAULT_HAIKU_MODEL": background, "CLAUDE_CODE_SUBAGENT_MODEL": background,
           "CLAUDE_CODE_ATTRIBUTION_HEADER": "0"}
    return {"model": "opusplan", "env": env}, notes


def cursor_instructions(plan: dict) -> str:
    rows = [a for a in plan["assignments"] if a["editor"] == "cursor"]
    lines = ["# Cursor: models for this plan (vtt)", "",
             "Cursor calls custom models from Cursor's servers, not from your machine: a localhost or LAN URL "
             "cannot work. Expose llama-swap through a public HTTPS tunnel (for example ngrok or Cloudflare), "
             "and protect it with an API key.", "",
             "1. Cursor Settings > Models > API Keys: enable OpenAI API Key (any value llama-swap accepts) and "
             "\"Override OpenAI Base URL\" = https://YOUR-TUNNEL/v1",
             "2. \"+ Add model\" for each id below, then Verify.",
             "3. Cursor has no per-mode model setting: pick the model in the chat's model menu when you switch mode.",
             "", "| mode | model id | context |", "|---|---|---|"]
    lines += [f"| {a['mode']} | {a['server']} | {a['context']} |" for a in rows]
    lines += ["", "Tab completion always uses Cursor's own models; the override is global for OpenAI models."]
    return "\n".join(lines) + "\n"


KINDS = ("llama-swap", "roo", "claude-code", "cursor")


def export(plan: dict, kind: str, target: Target | None = None, world=None) -> Export:
    """An export of the plan: llama-swap (yaml), roo (json), claude-code (json), cursor (markdown)."""
    target = target or Target()
    if kind == "llama-swap":
        import yaml

        cfg, notes = llama_swap_config(plan, target, world)
        head = f"# vtt export for {target.describe()}\n" + rpc_comment(plan, target)
        return Export(head + yaml.safe_dump(cfg, sort_keys=False), "yaml", notes)
    if kind == "roo":
        return Export(json.dumps(roo_settings(plan), indent=2), "json", [ROO_IMPORT])
    if kind == "claude-code":
        cfg, notes = claude_code_settings(plan)
        return Export(json.dumps(cfg, indent=2), "json",
                      notes + ["put it in ~/.claude/settings.json (or .claude/settings.json of a project)"])
    if kind == "cursor":
        return Export(cursor_instructions(plan), "markdown",
                      ["Cursor needs a public HTTPS tunnel to your llama-swap: it calls models from its servers"])
    from vtt.errors import BadQuery

    raise BadQuery(f"unknown export '{kind}': use {', '.join(KINDS)}")
