"""llama.cpp file types (Q4_K_M, Q8_0, MXFP4_MOE, UD-Q4_K_XL ...) as data.

A file type is a recipe: a base ggml type plus llama-quant.cpp's per-tensor bumps
(`mix: llama`), or an observed average (`bpw_scale` against that recipe) for Unsloth
dynamic quants, whose recipe is not published.
"""

from __future__ import annotations

from vtt.specs.base import Field, Spec


class FileType(Spec):
    id: str = Field(description="canonical name, e.g. Q4_K_M, UD-Q4_K_XL")
    ftype: int | None = Field(default=None, description="LLAMA_FTYPE_* (general.file_type)")
    base: str = Field(description="ggml type of most 2-D weights, e.g. q4_K")
    recipe: str | None = Field(default=None, description="the llama.cpp ftype whose mix rules apply (default: id)")
    family: str = Field(description="speed family for calibration: f16, q8, k, legacy, iq, mxfp4")
    aliases: list[str] = []
    bpw_scale: float = Field(default=1.0, gt=0, description="observed file bytes / recipe prediction")
    expert_type: str | None = Field(default=None, description="type forced on 3-D expert tensors (MXFP4_MOE)")
    other_type: str | None = Field(default=None, description="type forced on other 2-D tensors (MXFP4_MOE)")
    notes: str | None = None
    source: str | None = None
