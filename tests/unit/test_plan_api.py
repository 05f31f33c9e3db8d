"""The library under `vtt plan`: typed queries in, typed answers out; the JSON contract is a
serializer over the same answers."""

from __future__ import annotations

import pytest

from vtt.errors import UnknownName
from vtt.plan import Answer, PlanQuery, plan, plan_many


def test_plan_takes_a_typed_query_and_returns_a_typed_answer():
    a = plan(PlanQuery(model="glm-4.7-flash", quant="Q8_0", context=65536))
    assert isinstance(a, Answer)
    assert a.model == "glm-4.7-flash" and a.kv_cache_bytes == 47 * 576 * 2 * 65536
    assert a.tg_tps_interval[0] < a.tg_tps < a.tg_tps_interval[1]


def test_the_json_contract_is_the_answer_serialized():
    q = {"id": "x", "model": "gpt-oss-20b", "context": 16384, "depth": 4096}
    (d,) = plan_many([q])
    assert d == plan(q).to_json() and d["id"] == "x"
    assert "gen_s" not in d and "weights_gb" not in d  # request and GB keys only when asked


def test_a_typed_mode_query_is_a_request():
    a = plan(PlanQuery(model="gpt-oss-20b", mode="roo/code"))
    assert a.request and a.cached_tokens == 32768 and a.e2e_s == pytest.approx(a.ttft_s + a.gen_s, abs=1e-3)


def test_plan_raises_vtts_own_error():
    with pytest.raises(UnknownName, match="unknown model"):
        plan({"model": "no-such-model-xyz"})
