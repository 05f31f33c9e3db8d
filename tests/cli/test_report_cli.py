"""`vtt report --accuracy` writes REPORT.md (plots optional)."""

from typer.testing import CliRunner

from vtt.cli.app import app


def test_report_writes_markdown_with_every_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default data is vtt's own (validation/data/ via package data), not the cwd's
    r = CliRunner().invoke(app, ["report", "--accuracy", "--out", str(tmp_path), "--no-plots"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    text = (tmp_path / "REPORT.md").read_text()
    for section in ("## Held-out accuracy by fold scheme", "### Leave-attention-kind-out, per held-out kind",
                    "### Leave-build-era-out, per held-out era", "## Leave-family-out (the earlier figure)",
                    "### Leave-family-out by depth band", "## Peak memory", "## Seed claims vs vtt vs public measurements"):
        assert section in text
    assert "GLM-4.7-Flash-Q8" in text  # the seed reading, from validation/report_notes.md
    assert "| vulkan-radv | 2026 | attention |" in text


def _no_matplotlib(monkeypatch):
    import builtins
    import importlib.util

    real, real_find = builtins.__import__, importlib.util.find_spec

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("matplotlib") else real_find(name, *a))


def test_report_asked_for_plots_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    from vtt.errors import EnvironmentProblem

    _no_matplotlib(monkeypatch)
    r = CliRunner().invoke(app, ["report", "--accuracy", "--out", str(tmp_path), "--plots"])
    assert isinstance(r.exception, EnvironmentProblem) and "vtt[plots]" in r.exception.hint


def test_report_by_default_without_matplotlib_writes_the_markdown_and_says_so(monkeypatch, tmp_path):
    _no_matplotlib(monkeypatch)
    out = tmp_path / "new" / "rep"  # a folder that does not exist yet is made
    r = CliRunner().invoke(app, ["report", "--accuracy", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "REPORT.md").stat().st_size > 0 and not (out / "plots").exists()
    assert "plots skipped" in r.output and "vtt[plots]" in r.output
