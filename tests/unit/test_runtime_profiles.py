"""Runtime profiles fill the runtime keys a query leaves unset; the query's own keys win."""

from __future__ import annotations

import pytest

from vtt.errors import UnknownName
from vtt.plan import parse_query, plan_many
from vtt.specs.catalog import default_world


def test_profile_fills_unset_keys_and_explicit_keys_win():
    w = default_world()
    q = parse_query({"model": "gpt-oss-20b", "runtime": "kv-q8"}, w)
    assert (q.type_k, q.type_v, q.flash_attn) == ("q8_0", "q8_0", True)
    q = parse_query({"model": "gpt-oss-20b", "runtime": "kv-q8", "kv_type": "q4_0"}, w)
    assert (q.type_k, q.type_v) == ("q4_0", "q4_0")
    q = parse_query({"model": "gpt-oss-20b", "runtime": "server-4-slots", "parallel": 2}, w)
    assert q.parallel == 2 and q.kv_unified


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(UnknownName, match="unknown runtime 'nope'"):
        parse_query({"model": "gpt-oss-20b", "runtime": "nope"}, default_world())


def test_unified_slots_and_swa_full_change_the_sliding_window_cache():
    base = {"model": "gpt-oss-20b", "context": 65536}
    plain, unified, full = plan_many([{**base, "parallel": 4}, {**base, "parallel": 4, "kv_unified": True},
                                      {**base, "swa_full": True}])
    # gpt-oss-20b: 12 SWA layers x 2048 B per cell; window 128
    assert plain["kv_cache_bytes"] == 12 * 2048 * 65536 + 12 * 2048 * 4 * 768  # 4 streams of pad(128 + 512)
    assert unified["kv_cache_bytes"] == 12 * 2048 * 65536 + 12 * 2048 * 1024  # one stream of pad(128 x 4 + 512)
    assert full["kv_cache_bytes"] == 24 * 2048 * 65536
