"""Repository-wide pytest setup.

Tests run `auditor` and `pre-commit` as subprocesses; put the running interpreter's
bin directory (the venv that scripts/setup.sh made) first on PATH so they resolve to
the installed ones whether or not the venv is activated.
"""

import os
import sys
from pathlib import Path

_bin = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[:1] != [_bin]:
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
