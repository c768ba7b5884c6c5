"""A scan parses each module once (issue 10 item 4) and serialises its record once (item 2):
the analyses of one module file share the parse the first of them made, handed along
explicitly by the runner; rules, recommendation, gate and report read one record.

The scan runs in this process with `parse_module` replaced by a counter keyed by the
sha256 of the bytes parsed (every binding of it in auditor's modules, and the one the
lazy imports read). One variant whose cold scan takes every path that reads a module:
cargo's module (inspect, then wasm-opt's feature list), the wasm-opt output (the
shipped stage: inspect, then the allocator's code cost) and the probe build (the runtime
harness, then the allocator detection on this name-keeping twin, since `min-size-z`
strips the measured module's names). Before the hand-over each was parsed twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

import fixturelib


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.cargo
def test_a_scan_parses_each_module_once(tmp_path, monkeypatch):
    import auditor.pipeline.runner  # noqa: F401  (every module that binds parse_module, imported before the patch)
    import auditor.pipeline.scanner  # noqa: F401
    import auditor.pipeline.ship  # noqa: F401
    import auditor.runtime.api  # noqa: F401
    import auditor.runtime.harness  # noqa: F401
    import auditor.runtime.static  # noqa: F401
    import auditor.wasm.allocator  # noqa: F401
    import auditor.wasm.allocator_cost  # noqa: F401
    import auditor.wasm.features  # noqa: F401
    import auditor.wasm.inspect  # noqa: F401
    from auditor.pipeline import ScanOptions, scan
    from auditor.wasm import parse

    if not shutil.which("wasm-opt"):
        pytest.fail("wasm-opt (binaryen) is needed: scripts/setup-ship.sh")
    original = parse.parse_module
    parses: Counter[str] = Counter()

    def counting(data, *args, **kwargs):
        parses[hashlib.sha256(bytes(data)).hexdigest()] += 1
        return original(data, *args, **kwargs)

    patched = [name for name, mod in list(sys.modules.items())
               if name.split(".")[0] == "auditor" and getattr(mod, "parse_module", None) is original]
    for name in patched:
        monkeypatch.setattr(sys.modules[name], "parse_module", counting)
    assert {"auditor.wasm.parse", "auditor.wasm.inspect", "auditor.runtime.harness"} <= set(patched)
    # and the scan record is serialised once (issue 10 item 2): every variant's record is
    # built once, for the rules, the recommendation, the gate and the report alike
    from auditor.build.result import VariantResult

    serialised: Counter[str] = Counter()
    variant_to_json = VariantResult.to_json

    def counting_to_json(self):
        serialised[self.id] += 1
        return variant_to_json(self)

    monkeypatch.setattr(VariantResult, "to_json", counting_to_json)
    env = fixturelib.scan_env()
    for k in set(os.environ) - set(env):
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    options = ScanOptions(profiles=["min-size-z"], allocators=["default"], runtime=True, quiet=True,
                          cache_dir=tmp_path / "cache", ship={"wasm_opt": True, "bindgen": False})
    result = scan(fixturelib.fixture_crate("demo"), options)
    (v,) = result.variants
    assert v.status == "ok", v.error
    # the paths this test is about were taken
    assert v.stage == "wasm-opt" and v.wasm_path and v.probes_path and v.runtime is not None
    assert v.allocator_check is not None and v.allocator_check["method"] == "twin", v.allocator_check
    cargo, shipped, probes = v.sha256, sha(v.wasm_path), sha(v.probes_path)
    assert cargo == sha(next(s["path"] for s in v.stages if s["name"] == "cargo"))
    assert len({cargo, shipped, probes}) == 3
    seen = {{cargo: "cargo", shipped: "wasm-opt", probes: "probes"}.get(k, k[:12]): n for k, n in parses.items()}
    assert seen == {"cargo": 1, "wasm-opt": 1, "probes": 1}, seen
    assert result.builds == 2  # the variant and its probe build: a cold scan
    report = result.to_json()
    assert report["variants"][0] is result.facts()["variants"][0]
    assert serialised == {v.id: 1}, serialised
