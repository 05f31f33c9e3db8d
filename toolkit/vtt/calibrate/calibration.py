"""Moved to vtt.calibration (the calibration file format, which `vtt plan` reads); kept for old imports."""

from vtt.calibration import (  # noqa: F401
    UNCALIBRATED_SIGMA,
    Calibration,
    export_user_calibration,
    find_calibration,
    list_calibrations,
    load_calibration_file,
    physics_default,
    user_calibration_dir,
    write_calibration_yaml,
)
