"""Regenerate validation/REPORT.md and validation/plots/: `.venv/bin/python validation/accuracy_report.py`."""

from vtt.calibrate.report import write_accuracy_report

if __name__ == "__main__":
    print(f"wrote {write_accuracy_report()}")
