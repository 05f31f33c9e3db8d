"""The body of `vtt plan`, without typer: the CLI's declarations live in vtt.cli.plan, and the
start-up fast path (vtt.cli.app) calls `run` straight from a plain command line, so a `vtt plan`
never imports typer (~35 ms of its start)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vtt.errors import BadQuery


def run(*, model=None, hf_repo=None, quant=None, context=None, depth=None, n_prompt=None, n_gen=None, request=False,
        cached_tokens=None, prompt_tokens=None, output_tokens=None, mode=None, build=None, hipblaslt=None, rocwmma=False, hardware=None,
        backend=None, runtime=None, flash_attn=None, n_ubatch=None, kv_type=None, parallel=None, kv_unified=False,
        swa_full=False, mla_kv_full=False, mla_v_less=False, file_size_gib=None, budget_gib=None, calibration=None,
        boxes=None, cluster=None, link=None, tensor_split=None, batch=None, sweep=None, units="GiB",
        json_out=False, explain=False, light=False) -> None:
    """`vtt plan` with its options' values (see vtt.cli.plan for what each means). Exit status 2
    (SystemExit) when a batch or sweep line failed. `light`: answered with vtt.lightweight's
    stand-ins, so an error answer is left to the full path (NeedFull) rather than printed."""
    from vtt.plan import plan_many

    if batch is not None:
        answers = plan_many(_read_batch(batch))
        _emit(answers, json_out or True)  # a batch always answers in JSON lines
        if any("error" in a for a in answers):
            raise SystemExit(2)
        return
    if hf_repo is not None:
        if model is not None:
            raise BadQuery(f"give a MODEL or -hf {hf_repo}, not both")
        model = "hf://" + hf_repo.strip()
    if model is None:
        raise BadQuery("give a MODEL, -hf user/repo[:quant], or --batch FILE", hint="example: vtt plan glm-4.7-flash --quant Q8_0 --context 65536")
    base = dict(model=model, quant=quant, context=context, depth=depth, n_prompt=n_prompt, n_gen=n_gen,
                hardware=hardware, backend=backend, flash_attn=flash_attn, n_ubatch=n_ubatch, kv_type=kv_type,
                parallel=parallel, mla_v_less=mla_v_less or None, mla_kv_full=mla_kv_full or None, kv_unified=kv_unified or None,
                swa_full=swa_full or None, runtime=runtime, file_size_gib=file_size_gib, calibration=calibration,
                request=request or None, cached_tokens=cached_tokens, prompt_tokens=prompt_tokens,
                output_tokens=output_tokens, mode=mode, build=build, hipblaslt=hipblaslt, rocwmma=rocwmma or None, units=units,
                boxes=boxes, cluster=cluster, link=link, tensor_split=_split_arg(tensor_split),
                budget_gib=budget_gib, explain=explain or None)
    if sweep and (request or mode or prompt_tokens is not None):
        raise BadQuery("--sweep answers llama-bench curves: use it without --request/--mode")
    queries = _sweep(base, sweep) if sweep else [base]
    answers = plan_many(queries)
    errors = [a for a in answers if "error" in a]
    if light and errors:
        from vtt.lightweight import NeedFull

        raise NeedFull(errors[0]["error"]["message"])
    if len(queries) == 1 and errors:
        from vtt.errors import VttError

        e = errors[0]["error"]
        err = VttError(e["message"], hint=e.get("hint"), code=e["code"])
        err.exit_code = 3 if e["code"] == "remote_unreachable" else 2
        raise err
    _emit(answers, json_out, explain)
    if errors:
        raise SystemExit(2)


def _split_arg(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.replace("/", ",").split(",")]
    except ValueError:
        raise BadQuery(f"bad --tensor-split '{text}': give numbers like 3,2") from None


def _read_batch(path: Path) -> list:
    text = sys.stdin.read() if str(path) == "-" else _read_text(path)
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            out.append({"__bad_line__": f"line {n}: not JSON ({e.msg})"})
        except (ValueError, RecursionError) as e:  # nesting too deep, or a number too long to parse
            out.append({"__bad_line__": f"line {n}: not a usable JSON object ({type(e).__name__})"})
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise BadQuery(f"cannot read batch file {path}: {e.strerror}") from None


def _sweep(base: dict, axis: str) -> list[dict]:
    if axis == "context":
        from vtt.plan import resolve_model
        from vtt.specs.catalog import default_world

        top = resolve_model(default_world(), base["model"], base["quant"], base["file_size_gib"]).arch.n_ctx_train
        ctxs, c = [], 4096
        while c < top:
            ctxs.append(c)
            c *= 2
        ctxs.append(top)
        n_p = 512 if base["n_prompt"] is None else base["n_prompt"]
        return [{**base, "context": c, "depth": min(base["depth"] or 0, c - n_p)} for c in ctxs]
    if axis == "depth":
        ctx = base["context"] or 4096
        n_p = 512 if base["n_prompt"] is None else base["n_prompt"]
        depths, d = [0], 4096
        while d + n_p <= ctx:
            depths.append(d)
            d *= 2
        return [{**base, "depth": d} for d in depths]
    raise BadQuery(f"bad sweep '{axis}': use 'context' or 'depth'")


def _emit(answers: list[dict], json_out: bool, explain: bool = False) -> None:
    if json_out:
        sys.stdout.write("".join(json.dumps(a) + "\n" for a in answers))
        return
    from vtt.cli.render import render_plan
    from vtt.plan import printable

    # text from headers and servers (model labels, warnings, messages) must not reach a terminal raw
    units = next((a.get("units") for a in answers if a.get("units")), "GiB")
    answers = [_printable_strings(a, printable) for a in answers]
    render_plan(answers, units=units)
    for a in answers:  # a split over boxes: one line per llama.cpp device, then the network's cost
        for d in a.get("devices") or []:
            print(f"  {d['device']:<8} {d['box']:<6} layers {d['layers']}{' +output' if d['output_layer'] else ''}: "
                  f"weights {d['weights_gib']:.2f} + KV {d['kv_cache_gib']:.2f} + compute {d['compute_buffer_gib']:.2f}"
                  f"{' + host %.2f' % d['host_gib'] if d['host_gib'] else ''} = {d['total_gib']:.2f} of {d['budget_gib']:.1f} GiB"
                  f" {'fits' if d['fits'] else 'DOES NOT FIT'}")
        if explain and a.get("time_terms"):
            for line in explain_lines(a):
                print(line)
        if a.get("network"):
            n = a["network"]
            print(f"  network ({a['link']}): tg +{n['tg_ms_per_token']:.3f} ms/token (transfer {n['tg_transfer_ms']:.3f}, "
                  f"round trips {n['tg_round_trip_ms']:.3f}, rpc-server {n['tg_rpc_graph_ms']:.3f}, device sync "
                  f"{n['tg_device_sync_ms']:.3f}{', duty-cycle clocks %.3f' % n['tg_duty_clock_ms'] if n.get('tg_duty_clock_ms') else ''}"
                  f"); pp +{n['pp_s']:.4f} s; "
                  f"one box would run tg {a['tg_tps_one_box']}, pp {a['pp_tps_one_box']}")


def _printable_strings(v, printable):
    if isinstance(v, str):
        return printable(v)
    if isinstance(v, dict):
        return {k: _printable_strings(x, printable) for k, x in v.items()}
    if isinstance(v, list):
        return [_printable_strings(x, printable) for x in v]
    return v


def explain_lines(a: dict) -> list[str]:
    """Where an answer's time goes, largest share first (terms under 0.5 % left out)."""
    out = []
    for key, what, unit in (("pp_s", f"prompt (-p {a.get('n_prompt')} -d {a.get('depth')})", "s"),
                            ("tg_ms_per_token", "a generated token", "ms")):
        terms = (a.get("time_terms") or {}).get(key)
        if not terms:
            continue
        total = sum(terms.values())
        if total <= 0:
            continue
        parts = sorted(((v / total, k) for k, v in terms.items() if v / total >= 0.005), reverse=True)
        out.append(f"  {what}: {total:.4g} {unit} = " + ", ".join(f"{k} {100 * share:.0f} %" for share, k in parts))
        if key == "pp_s" and a.get("attn_depth_factor") not in (None, 1.0):
            out.append(f"    attention at depth x{a['attn_depth_factor']:.2f} of its linear charge: this machine's "
                       "measured flash-attention rate against KV length (vtt bench ops --profile depth)")
    return out
