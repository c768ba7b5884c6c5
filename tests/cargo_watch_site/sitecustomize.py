"""Loaded by every Python process a test starts (the session puts this directory first
on PYTHONPATH): installs tests/cargo_watch.py's audit hook, so cargo runs started by
`python -m auditor`, pre-commit and their children reach the session's log.

WHY here: sitecustomize is the one module every interpreter imports at startup without
being asked. The sitecustomize this one shadows (Debian's apport hook, a venv's own) is
run afterwards, so the process behaves as it would without the watch.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _load_watch() -> None:
    if os.environ.get("AUDITOR_TEST_CARGO_LOG") is None or "cargo_watch" in sys.modules:
        return
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cargo_watch.py")
    spec = importlib.util.spec_from_file_location("cargo_watch", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["cargo_watch"] = module
    spec.loader.exec_module(module)
    module.install()


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


try:
    _load_watch()
except Exception:  # the watch must never stop a process from starting
    pass
_chain()
