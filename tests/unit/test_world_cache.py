"""The start-up cache of parsed files (vtt.cache) never changes an answer."""

from __future__ import annotations

import os
import shutil

from vtt.cache import disk_cached
from vtt.specs import catalog
from vtt.specs.catalog import load_world, spec_roots


def _world(monkeypatch, roots):
    catalog.default_world.cache_clear()
    monkeypatch.setattr(catalog, "spec_roots", lambda: roots)
    try:
        return catalog.default_world()
    finally:
        catalog.default_world.cache_clear()


def test_cached_world_equals_the_yaml_and_follows_an_edit(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    overlay = tmp_path / "overlay"
    shutil.copytree(spec_roots()[0] / "hardware", overlay / "hardware")
    roots = [*spec_roots(), overlay]
    first = _world(monkeypatch, roots)
    assert list((tmp_path / "cache" / "vtt" / "parsed").glob("world-*.pickle"))
    again = _world(monkeypatch, roots)  # from the pickle
    assert again.hardware == first.hardware == load_world(roots).hardware and again.models.keys() == first.models.keys()
    f = overlay / "hardware" / "strix-halo-128.yaml"
    f.write_text(f.read_text().replace("mem_bandwidth_gbs: 256", "mem_bandwidth_gbs: 384"))
    os.utime(f, ns=(1, 1))  # even an edit that keeps the size and sets an old mtime is a new key
    edited = _world(monkeypatch, roots)
    assert edited.hardware["strix-halo-128"].mem_bandwidth_gbs == 384


def test_a_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []
    assert disk_cached("t", "k1", lambda: calls.append(1) or {"a": 1}) == {"a": 1}
    assert disk_cached("t", "k1", lambda: calls.append(1) or {"a": 2}) == {"a": 1} and len(calls) == 1
    (path,) = (tmp_path / "vtt" / "parsed").glob("t-*.pickle")
    path.write_bytes(b"not a pickle")
    assert disk_cached("t", "k1", lambda: {"a": 3}) == {"a": 3}
    assert disk_cached("t", "k2", lambda: {"a": 4}) == {"a": 4}  # another key, never the old value


def test_an_unwritable_cache_still_answers(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder should be
    assert disk_cached("t", "k", lambda: 42) == 42


def test_a_new_file_in_every_loaded_folder_is_a_new_key(tmp_path, monkeypatch):
    """A cluster or link added to an overlay is seen at once (links/ and clusters/ were once left
    out of the key, so a new cluster spec answered 'unknown cluster' until the cache was removed)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    overlay = tmp_path / "overlay"
    base = spec_roots()[0]
    roots = [*spec_roots(), overlay]
    _world(monkeypatch, roots)  # cached without the new files
    for folder, name in (("clusters", "h200-vulkan-x2.yaml"), ("links", "loopback.yaml")):
        (overlay / folder).mkdir(parents=True)
        src = (base / folder / name).read_text()
        (overlay / folder / ("copy-" + name)).write_text(src.replace(f"id: {name[:-5]}", f"id: copy-{name[:-5]}"))
    w = _world(monkeypatch, roots)
    assert "copy-h200-vulkan-x2" in w.clusters and "copy-loopback" in w.links
    assert set(catalog.LOADED) >= {"hardware", "backends", "models", "quants", "runtimes", "links", "clusters"}
