"""Moved to vtt.calibration (the calibration file format, which `vtt plan` reads without importing
vtt.calibrate). This name stays an alias of that same module for old imports and patches."""

import sys

from vtt import calibration as _moved

sys.modules[__name__] = _moved
