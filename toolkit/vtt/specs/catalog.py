"""The declared world: every spec file under specs/ (and user overlays), loaded and validated.

Spec roots, later ones overriding earlier ones by id: vtt's own specs (package data, see
vtt.resources), then the directories in $VTT_SPECS (os.pathsep-separated overlays).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from vtt.errors import SpecError, UnknownName
from vtt.specs.backend import Backend
from vtt.specs.cluster import Cluster, Link
from vtt.specs.hardware import Hardware
from vtt.specs.model_arch import ModelArch
from vtt.specs.quant import FileType
from vtt.specs.runtime import Runtime


def builtin_specs_dir() -> Path:
    from vtt.resources import specs_dir

    return specs_dir()


def spec_roots() -> list[Path]:
    roots = [builtin_specs_dir()]
    extra = os.environ.get("VTT_SPECS", "")
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    return roots


def norm(name: str) -> str:
    """Loose key for names people type: case, '_', '.', ' ' and '-' do not matter."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass
class World:
    hardware: dict[str, Hardware] = field(default_factory=dict)
    backends: dict[str, Backend] = field(default_factory=dict)
    models: dict[str, ModelArch] = field(default_factory=dict)
    quants: dict[str, FileType] = field(default_factory=dict)
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)
    _model_keys: dict[str, str] = field(default_factory=dict)
    _quant_keys: dict[str, str] = field(default_factory=dict)

    def index(self) -> None:
        self._model_keys = {}
        for m in self.models.values():
            for n in [m.id, m.name, *m.aliases]:
                self._model_keys.setdefault(norm(n), m.id)
        self._quant_keys = {}
        for q in self.quants.values():
            for n in [q.id, *q.aliases]:
                self._quant_keys.setdefault(norm(n), q.id)

    # ---- lookups with "did you mean" ----
    def find_model(self, name: str) -> ModelArch | None:
        mid = self._model_keys.get(norm(name))
        return self.models[mid] if mid else None

    def model(self, name: str) -> ModelArch:
        m = self.find_model(name)
        if m is None:
            raise UnknownName(
                f"unknown model '{name}'" + _did_you_mean(name, self._model_keys, self.models),
                hint="list them with: vtt catalog",
            )
        return m

    def find_quant(self, name: str) -> FileType | None:
        qid = self._quant_keys.get(norm(name))
        return self.quants[qid] if qid else None

    def quant(self, name: str) -> FileType:
        q = self.find_quant(name)
        if q is None:
            raise UnknownName(
                f"unknown quant '{name}'" + _did_you_mean(name, self._quant_keys, self.quants),
                hint="known quants: " + ", ".join(self.quants),
            )
        return q

    def get_hardware(self, hid: str) -> Hardware:
        if hid not in self.hardware:
            raise UnknownName(f"unknown hardware '{hid}'" + _did_you_mean(hid, {norm(k): k for k in self.hardware}, self.hardware))
        return self.hardware[hid]

    def get_runtime(self, rid: str) -> Runtime:
        if rid not in self.runtimes:
            raise UnknownName(f"unknown runtime '{rid}'" + _did_you_mean(rid, {norm(k): k for k in self.runtimes}, self.runtimes),
                              hint="list them with: vtt catalog runtimes")
        return self.runtimes[rid]

    def get_cluster(self, cid: str) -> Cluster:
        if cid not in self.clusters:
            raise UnknownName(f"unknown cluster '{cid}'" + _did_you_mean(cid, {norm(k): k for k in self.clusters}, self.clusters),
                              hint="clusters are specs/clusters/*.yaml")
        return self.clusters[cid]

    def get_link(self, lid: str) -> Link:
        if lid not in self.links:
            raise UnknownName(f"unknown link '{lid}'" + _did_you_mean(lid, {norm(k): k for k in self.links}, self.links),
                              hint="known links: " + ", ".join(self.links))
        return self.links[lid]

    def get_backend(self, bid: str) -> Backend:
        if bid not in self.backends:
            raise UnknownName(f"unknown backend '{bid}'" + _did_you_mean(bid, {norm(k): k for k in self.backends}, self.backends))
        return self.backends[bid]


def _did_you_mean(name: str, keys: dict[str, str], items: dict) -> str:
    close = difflib.get_close_matches(norm(name), list(keys), n=5, cutoff=0.6)
    ids = list(dict.fromkeys(keys[c] for c in close))
    if not ids:  # fall back to substring matches on ids
        ids = [i for i in items if norm(name)[:6] and norm(name)[:6] in norm(i)][:5]
    return f"; did you mean: {', '.join(ids)}" if ids else ""


def _load_dir(root: Path, sub: str, cls, into: dict, list_key: str | None = None) -> None:
    from vtt.specs.yamlfile import read_yaml, validate  # yaml only on a cache miss

    d = root / sub
    if not d.is_dir():
        return
    for f in sorted(d.rglob("*.yaml")):
        doc = read_yaml(f)
        if doc.data is None:
            continue
        if list_key:
            if not isinstance(doc.data, dict) or not isinstance(doc.data.get(list_key), list):
                raise SpecError(f"{doc.where(())}: expected a top-level '{list_key}:' list")
            for i, item in enumerate(doc.data[list_key]):
                obj = validate(cls, item, doc, (list_key, i))
                into[obj.id] = obj
        else:
            obj = validate(cls, doc.data, doc)
            into[obj.id] = obj


# every folder load_world reads: the start-up cache key (_fingerprint) lists their files
LOADED = ("hardware", "backends", "models", "quants", "runtimes", "links", "clusters")


def load_world(roots: list[Path] | None = None) -> World:
    from vtt import lightweight

    if lightweight.ACTIVE:  # validating YAML needs pydantic (vtt.lightweight answers from the cache only)
        raise lightweight.NeedFull("the World is not cached")
    w = World(roots=roots or spec_roots())
    for root in w.roots:
        _load_dir(root, "hardware", Hardware, w.hardware)
        _load_dir(root, "backends", Backend, w.backends)
        _load_dir(root, "models", ModelArch, w.models)
        _load_dir(root, "quants", FileType, w.quants, list_key="file_types")
        _load_dir(root, "runtimes", Runtime, w.runtimes)
        _load_dir(root, "links", Link, w.links)
        _load_dir(root, "clusters", Cluster, w.clusters)
    w.index()
    return w


@lru_cache(maxsize=1)
def default_world() -> World:
    roots = spec_roots()
    try:
        key = _fingerprint(roots)
    except OSError:
        return load_world(roots)  # a file vanished while we looked: the loader says what is wrong
    from vtt.cache import disk_cached

    return disk_cached("world", key, lambda: load_world(roots))


# ---- the World's key in the start-up cache (vtt.cache) ----
# Reading and validating ~60 YAML files costs `vtt plan` about as much as importing numpy, and
# building the spec models' pydantic validators (deferred: vtt.specs.base) more, so the
# validated World is cached, keyed by every spec file's path, size and mtime, the spec model
# sources and the versions of vtt, Python and pydantic.
def _fingerprint(roots: list[Path]) -> str:
    import sys

    import pydantic

    from vtt import __version__
    from vtt.cache import file_key

    # the roots themselves: a World remembers them (calibrations are found through world.roots), so a
    # root whose folders hold no loaded spec (only calibrations) must still change the key
    parts = [f"{__version__}|{sys.version}|{pydantic.VERSION}", "roots:" + "|".join(str(Path(r).resolve()) for r in roots)]
    files = [*sorted(Path(__file__).parent.glob("*.py"))]
    for root in roots:
        for sub in LOADED:
            for dirpath, dirnames, names in os.walk(Path(root) / sub):
                dirnames.sort()
                files += [Path(dirpath) / n for n in sorted(names) if n.endswith(".yaml")]
    return "\n".join(parts + [file_key(f) for f in files])
