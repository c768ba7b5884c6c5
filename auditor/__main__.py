"""`python -m auditor`. The cycle collector stays off while the CLI's modules load
(thousands of objects and no cycles: one or two collections of the young heap, ~5-10 ms
of a cold start); cli.main freezes what was loaded (never garbage, never walked again)
and turns it back on."""

import gc

gc.disable()

from auditor.cli import main  # noqa: E402

main(loaded_without_gc=True)
