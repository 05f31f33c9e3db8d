"""The `vtt` command line: vtt.cli.app is the entry point, one module per command."""

import sys

# With PYTHONDONTWRITEBYTECODE set, Python never caches compiled modules. pip compiles an installed
# package at install time anyway, but an editable install (`pip install -e .`, the README's) is then
# compiled from source on every start: vtt's ~45 modules, about as long again as a cold `vtt plan`
# takes with them cached (the plan-speed check measured 2.01-2.09x bare imports against 1.78-1.96x).
# The CLI process caches its imports as a default Python run would; a script importing vtt as a
# library keeps its interpreter's setting.
sys.dont_write_bytecode = False
