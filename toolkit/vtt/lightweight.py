"""Pydantic-free stand-ins for `vtt plan`'s start-up: answering one catalog query from the cached
World without importing pydantic's model machinery.

Why by hand: a cold `vtt plan` spends about as long importing `pydantic.main` and building its
model classes (~30 ms for BaseModel, ~12 ms for Field's constraint types, ~1 ms a class) as it does
predicting, while every spec it needs is already validated and pickled on disk (vtt.cache). So
the CLI's fast path (vtt.cli.app) sets ACTIVE before anything imports vtt.specs: vtt.specs.base
then hands the spec modules and vtt.plan these stand-ins instead of pydantic's, the World unpickles
into them (same module and class names), and a query is checked against the constraints the class
declares (`Field(gt=..)`) and its own validators.

These stand-ins only decide what is plainly valid. Anything else (a type or value they do not
know, a constraint or validator that fails, a World cache miss that needs YAML validated, any
error answer) raises NeedFull, and the fast path answers again in a fresh import with pydantic, so
every message, coercion and exit code stays pydantic's. tests/unit/test_lightweight.py compares
both modes' answers.
"""

from __future__ import annotations

import math
import re
import sys

ACTIVE = False


class NeedFull(Exception):
    """This needs pydantic: validation that can fail, or a spec that is not cached."""


_MISSING = object()


class _FieldInfo:
    __slots__ = ("default", "factory", "constraints")

    def __init__(self, default, factory, constraints):
        self.default, self.factory, self.constraints = default, factory, constraints


def Field(default=_MISSING, *, default_factory=None, description=None, **constraints):  # noqa: N802 (pydantic's name)
    return _FieldInfo(default, default_factory, constraints)


def PrivateAttr(default=None, *, default_factory=None):  # noqa: N802
    return _FieldInfo(default, default_factory, {})


def ConfigDict(**kw) -> dict:  # noqa: N802
    return dict(kw)


class ValidationError(Exception):
    """Never raised here (NeedFull is): lets `except ValidationError` clauses import."""


class _Validator:
    def __init__(self, kind, func, fields=(), mode="after"):
        self.kind, self.func, self.fields, self.mode = kind, func, fields, mode


def model_validator(*, mode: str):
    return lambda f: _Validator("model", f, mode=mode)


def field_validator(*fields: str, mode: str = "after"):
    return lambda f: _Validator("field", f, fields, mode)


def _ann_text(ann) -> str:
    """An annotation as source text (vtt's modules keep them as strings: `from __future__ import annotations`)."""
    if isinstance(ann, str):
        return ann
    return ann.__name__ if isinstance(ann, type) else repr(ann).replace("typing.", "")


_OPTIONAL = re.compile(r"^(.*?) \| None$")


def _check_type(ann: str, v):
    """v as the annotation wants it, for the plain cases; NeedFull for anything else."""
    m = _OPTIONAL.match(ann)
    if m:
        if v is None:
            return None
        ann = m.group(1)
    if ann == "Any":
        return v
    if ann == "bool":
        if type(v) is bool or type(v).__name__ == "bool_":
            return bool(v)
    elif ann == "int":
        if type(v) is not bool and hasattr(v, "__index__") and type(v).__name__ != "bool_":
            return int(v)
    elif ann == "float":
        if (type(v) is not bool and isinstance(v, (int, float))) or type(v).__name__.startswith("float"):
            return float(v)
    elif ann == "str":
        if isinstance(v, str):
            return v
    elif ann.startswith("Literal["):
        if isinstance(v, str) and repr(v) in ann[8:-1].split(", "):
            return v
    elif ann in ("Interval", "list[float | None]"):  # vtt.plan.Interval
        if isinstance(v, list):
            return [_check_type("float | None", x) for x in v]
    elif ann.startswith("list[") and ann[5:-1].isidentifier():  # list[str], list[float], list[Box] ...
        if isinstance(v, list):
            return [_check_type(ann[5:-1], x) for x in v]
    elif ann.isidentifier() and isinstance(v, LightModel) and type(v).__name__ == ann:
        return v  # an instance of the model the field names, kept as it is (pydantic: revalidate_instances='never')
    raise NeedFull(f"{ann}: {type(v).__name__}")


_KNOWN = {"gt", "ge", "lt", "le", "min_length", "max_length", "allow_inf_nan"}


def _check_constraints(c: dict, v) -> None:
    if v is None:
        return
    if set(c) - _KNOWN:  # a constraint these stand-ins do not check (pattern, multiple_of ...): pydantic's call
        raise NeedFull(f"constraints {sorted(set(c) - _KNOWN)}")
    if isinstance(v, float) and c.get("allow_inf_nan") is False and not math.isfinite(v):
        raise NeedFull("not finite")
    if ("gt" in c and not v > c["gt"]) or ("ge" in c and not v >= c["ge"]) or ("le" in c and not v <= c["le"]) \
            or ("lt" in c and not v < c["lt"]) or ("min_length" in c and not len(v) >= c["min_length"]) \
            or ("max_length" in c and not len(v) <= c["max_length"]):
        raise NeedFull("constraint")


class LightModel:
    """A model class whose instances are plain objects: made by unpickling a pydantic model's
    state, by model_validate of plainly valid input, or by model_copy."""

    model_config: dict = {}
    model_fields: dict = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__()
        fields, private = {}, {}
        validators = {"before": [], "after": [], "model": []}
        for klass in reversed(cls.__mro__):
            for name, ann in klass.__dict__.get("__annotations__", {}).items():
                if name.startswith("model_") or str(ann).startswith("ClassVar"):
                    continue
                raw = klass.__dict__.get(name, _MISSING)
                if name.startswith("_"):
                    if isinstance(raw, _FieldInfo):
                        private[name] = raw
                    continue
                fi = raw if isinstance(raw, _FieldInfo) else _FieldInfo(raw, None, {})
                fields[name] = (_ann_text(ann), fi)
        for name, v in list(cls.__dict__.items()):
            if isinstance(v, _Validator):
                if v.mode not in ("before", "after") or (v.kind == "model" and v.mode != "after"):
                    validators["unsupported"] = True  # wrap / plain / model-before: only pydantic runs them
                elif v.kind == "model":
                    validators["model"].append(v.func)
                else:
                    validators[v.mode].append((v.fields, v.func))
                setattr(cls, name, v.func)
        for name, (_, fi) in fields.items():
            if fi.default is not _MISSING and isinstance(cls.__dict__.get(name), _FieldInfo):
                setattr(cls, name, fi.default)
        cls.model_fields, cls._light_private, cls._light_validators = fields, private, validators

    def __setstate__(self, state: dict) -> None:  # a pickled pydantic model's state
        object.__setattr__(self, "__dict__", dict(state["__dict__"]))
        object.__setattr__(self, "_light_set", set(state.get("__pydantic_fields_set__") or ()))
        extra = state.get("__pydantic_extra__")
        if extra:
            self.__dict__.update(extra)
        for k, v in (state.get("__pydantic_private__") or {}).items():
            object.__setattr__(self, k, v)

    def __getstate__(self):
        raise NeedFull("a light model is never pickled")

    @property
    def model_fields_set(self) -> set:
        return self._light_set

    def __init__(self, **data):  # validated as model_validate does; the instance takes its state
        object.__setattr__(self, "__dict__", self.model_validate(data).__dict__)

    @classmethod
    def model_validate(cls, raw: dict):
        if not isinstance(raw, dict) or cls._light_validators.get("unsupported"):
            raise NeedFull("not a dict, or a validator only pydantic runs")
        extra_ok = cls.model_config.get("extra") == "allow"
        raw = dict(raw)
        for fields, func in cls._light_validators["before"]:
            for f in fields:
                if f in raw:
                    raw[f] = func.__func__(cls, raw[f]) if isinstance(func, classmethod) else func(cls, raw[f])
        obj = cls.__new__(cls)
        d = {}
        for name, (ann, fi) in cls.model_fields.items():
            if name in raw:
                v = _check_type(ann, raw[name])
                _check_constraints(fi.constraints, v)
            elif fi.factory is not None:
                v = fi.factory()
            elif fi.default is not _MISSING:
                v = fi.default
            else:
                raise NeedFull(f"{name} missing")
            d[name] = v
        unknown = [k for k in raw if k not in cls.model_fields]  # in the input's order, as pydantic keeps extras
        if unknown and not extra_ok:
            raise NeedFull(f"unknown keys {unknown}")
        object.__setattr__(obj, "__dict__", d)
        for k in unknown:
            d[k] = raw[k]
        object.__setattr__(obj, "_light_set", set(raw))
        for name, fi in cls._light_private.items():
            object.__setattr__(obj, name, fi.factory() if fi.factory is not None else fi.default)
        for fields, func in cls._light_validators["after"]:
            for f in fields:
                d[f] = func.__func__(cls, d[f]) if isinstance(func, classmethod) else func(cls, d[f])
        for func in cls._light_validators["model"]:
            obj = func(obj)
        return obj

    def model_copy(self, *, update: dict | None = None):
        obj = self.__class__.__new__(self.__class__)
        object.__setattr__(obj, "__dict__", {**self.__dict__, **(update or {})})
        object.__setattr__(obj, "_light_set", set(self._light_set) | set(update or ()))
        return obj

    def model_dump(self, *, exclude_unset: bool = False, exclude=None) -> dict:
        keys = [k for k in self.__dict__ if not k.startswith("_")]
        if exclude_unset:
            keys = [k for k in keys if k in self._light_set]
        out = {}
        for k in keys:
            if exclude and k in exclude:
                continue
            out[k] = _dump(self.__dict__[k])
        return out


def _dump(v):
    if isinstance(v, LightModel):
        return v.model_dump()
    if isinstance(v, list):
        return [_dump(x) for x in v]
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    return v


def purge(before: set[str]) -> None:
    """Forget the vtt modules imported in light mode, so the next import builds pydantic models."""
    global ACTIVE
    ACTIVE = False
    for name in [m for m in sys.modules if (m == "vtt" or m.startswith("vtt.")) and m not in before]:
        del sys.modules[name]
