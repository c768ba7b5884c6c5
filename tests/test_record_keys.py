"""Every key a stage writes is declared in its record's TypedDict (auditor/records/).

The records are TypedDicts: mypy checks the producers' literals, but not keys added
later through an untyped path (a `dict[str, Any]` merged in, `rec["x"] = ...` on a
copy). This walks real output — `auditor run --format json` on a hand-written module
with the speed probe on, `auditor inspect --dwarf` on a clang module with DWARF 5, the
attribution of that module, a trade-off, and (cargo) a `scan --attribute` report of the demo
crate with its variant cache's build record — against the TypedDict's annotations, nested:
a key the type does not declare fails, a required key that is missing fails, and a value
of the wrong JSON kind fails. `test_the_walk_fails_on_a_stray_key` shows the walk can fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import types
from pathlib import Path
from typing import Any, NotRequired, Required, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from auditor.records.attribution import AttributionRecord, TwinAttributionRecord
from auditor.records.inspect import InspectRecord
from auditor.records.run import RunRecord
from auditor.records.scan import TradeoffRecord

import clirun
import fixturelib

RUNTIME_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"


def problems(value: Any, tp: Any, where: str = "$", seen: set[str] | None = None) -> list[str]:
    """Where `value` (parsed JSON) does not fit `tp`; `seen` collects the TypedDicts that
    were checked against a non-empty object (so a test can say what it covered)."""
    if tp is Any or tp is object:
        return []
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        arms = get_args(tp)
        if value is None:
            return [] if type(None) in arms else [f"{where}: null, expected {tp}"]
        tried = [problems(value, arm, where, seen) for arm in arms if arm is not type(None)]
        return [] if any(not t for t in tried) else min(tried, key=len)
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, expected {tp.__name__}"]
        hints = get_type_hints(tp)
        out = [f"{where}.{k}: not declared in {tp.__name__}" for k in value if k not in hints]
        out += [f"{where}: {tp.__name__} requires {k!r}" for k in required_keys(tp) if k not in value]
        for k, v in value.items():
            if k in hints:
                out += problems(v, hints[k], f"{where}.{k}", seen)
        if seen is not None and value and not out:
            seen.add(tp.__name__)
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, expected a list"]
        (item,) = get_args(tp)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{where}[{i}]", seen)]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, expected an object"]
        _, item = get_args(tp)
        return [p for k, v in value.items() for p in problems(v, item, f"{where}.{k}", seen)]
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp in (str, bool):
        ok = isinstance(value, tp)
    elif tp is type(None):
        ok = value is None
    else:
        raise AssertionError(f"{where}: the walk does not know {tp!r}")
    return [] if ok else [f"{where}: {value!r} is not {tp.__name__}"]


def required_keys(tp: Any) -> set[str]:
    """The keys a TypedDict requires. Not `__required_keys__`: under `from __future__ import
    annotations` (auditor/records/) Python 3.11 cannot see a NotRequired[...] written as a
    string and counts every key of a total TypedDict as required."""
    out: set[str] = set()
    for base in reversed(tp.__mro__):
        if not is_typeddict(base):
            continue
        hints = get_type_hints(base, include_extras=True)
        for k in base.__dict__.get("__annotations__", {}):
            o = get_origin(hints[k])
            if o is Required or (o is not NotRequired and base.__total__):
                out.add(k)
            else:
                out.discard(k)
    return out


@pytest.fixture(scope="module")
def named_speed_module(tmp_path_factory) -> Path:
    """speed_counted.wat (a bump allocator with the probe and replay exports), its
    allocator functions named as Rust's shims so `allocator_code` lists items."""
    src = (RUNTIME_FIXTURES / "speed_counted.wat").read_text()
    for name in ("alloc", "dealloc", "realloc"):
        src = re.sub(rf"\${name}\b", f"$__rust_{name}", src)
    d = tmp_path_factory.mktemp("record_keys")
    (d / "m.wat").write_text(src)
    subprocess.run(["wat2wasm", "--debug-names", str(d / "m.wat"), "-o", str(d / "m.wasm")], check=True)
    return d / "m.wasm"


@pytest.fixture(scope="module")
def run_record(named_speed_module: Path, tmp_path_factory) -> dict[str, Any]:
    r = clirun.run(["run", named_speed_module, "--format", "json", "--speed-actions", "2000", "--workloads", "ramp"],
                   cwd=tmp_path_factory.mktemp("run"))
    assert r.returncode in (0, 1), r.stderr
    rec: dict[str, Any] = json.loads(r.stdout)
    return rec


def test_every_key_of_a_run_record_is_declared(run_record):
    seen: set[str] = set()
    assert problems(run_record, RunRecord, seen=seen) == []
    # the blocks this round typed were really there, filled, and walked
    assert {"SpeedRecord", "SpeedOptionsRecord", "SpeedWorkloadRecord", "TimeRecord", "HeapFillRecord",
            "FillTrialRecord", "AllocatorCodeRecord", "AllocatorCodeItemRecord"} <= seen, seen
    assert run_record["allocator_code"]["items"], run_record["allocator_code"]


def test_the_walk_fails_on_a_stray_key(run_record):
    stray = json.loads(json.dumps(run_record))
    stray["speed"]["workloads"]["random_realloc"]["undeclared"] = 1
    assert problems(stray, RunRecord) == ["$.speed.workloads.random_realloc.undeclared: not declared in SpeedWorkloadRecord"]
    stray = json.loads(json.dumps(run_record))
    del stray["allocator_code"]["share"]
    assert problems(stray, RunRecord) == ["$.allocator_code: AllocatorCodeRecord requires 'share'"]
    stray["allocator_code"]["share"] = "most"
    assert problems(stray, RunRecord) == ["$.allocator_code.share: 'most' is not float"]


@pytest.fixture(scope="module")
def dwarf_module() -> Path:
    return fixturelib.clang_module("debug_info", ["-gdwarf-5"])


def test_every_key_of_an_inspect_record_with_the_dwarf_walk_is_declared(dwarf_module, tmp_path):
    r = clirun.run(["inspect", dwarf_module, "--format", "json", "--dwarf"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    seen: set[str] = set()
    assert problems(rec, InspectRecord, seen=seen) == []
    assert {"DwarfSummaryRecord", "DwarfUnitRecord", "DwarfFunctionsRecord", "DwarfFunctionRecord"} <= seen, seen


def test_every_key_of_an_attribution_is_declared(dwarf_module):
    from auditor.pipeline.deep import attribute_modules

    att = json.loads(json.dumps(attribute_modules(dwarf_module, dwarf_module, top_items=5, why=".")))
    seen: set[str] = set()
    assert problems(att, TwinAttributionRecord, seen=seen) == []
    # the scan report's block is the same plus the variant's: every key declared there too
    assert problems({**att, "variant": "release/default", "twin_profile": "release-debuginfo",
                     "twin_settings": {"debug": 1}, "variant_code_bytes": 1}, AttributionRecord) == []
    assert {"TwinAttributionRecord", "ItemRowRecord", "CratesViewRecord", "CrateRowRecord", "SourcesViewRecord",
            "FileBytesRecord", "AttributedModuleRecord", "DataViewRecord", "MonosViewRecord"} <= seen, seen


def test_every_key_of_a_tradeoff_is_declared():
    from auditor.rules.tradeoff import Point, tradeoff

    points = [Point("a/x", 1000, 50.0, 0.9), Point("b/y", 900, 80.0, 0.7), Point("c/z", 1200, 200.0, 0.95)]
    rec = json.loads(json.dumps(tradeoff(points, min_speed=0.3).to_json()))
    seen: set[str] = set()
    assert problems(rec, TradeoffRecord, seen=seen) == []
    assert rec["excluded"] and {"TradeoffRecord", "TradeoffPointRecord", "ExcludedRecord"} <= seen, seen


def test_the_records_name_only_types_the_walk_knows():
    """Every annotation reachable from the stage records is one the walk checks (a new
    kind of annotation must be taught to it, not silently passed)."""
    todo: list[Any] = [RunRecord, InspectRecord, AttributionRecord, TradeoffRecord]
    done: set[Any] = set()
    while todo:
        tp = todo.pop()
        if tp in done or tp is Any:
            continue
        done.add(tp)
        if is_typeddict(tp):
            todo += list(get_type_hints(tp).values())
        elif get_origin(tp) in (Union, types.UnionType, list, dict):
            todo += list(get_args(tp))
        else:
            assert tp in (int, float, str, bool, type(None)), tp


# the arguments of test_deep_commands' `scan --attribute` test: one scan per session
ATTRIBUTE = ("--profiles", "release", "--allocators", "default", "--no-runtime", "--attribute", "release/*", "--why", "alloc")


@pytest.mark.cargo
def test_every_key_of_a_scan_report_with_an_attribution_and_of_its_build_record_is_declared(toolchain):
    from auditor.records.scan import BuildRecord, ScanRecord

    report = fixturelib.scan_report("demo", *ATTRIBUTE, toolchain=toolchain)
    seen: set[str] = set()
    assert problems(report, ScanRecord, seen=seen) == []
    assert {"ScanRecord", "VariantRecord", "InspectRecord", "RecommendedRecord", "TradeoffRecord",
            "AttributionRecord", "ItemRowRecord", "AttributedModuleRecord"} <= seen, seen
    # the variant cache's record.json next to the module the report names
    (variant,) = report["variants"]
    build = json.loads((Path(variant["wasm_path"]).parent / "record.json").read_text())
    assert problems(build, BuildRecord) == [] and build["sha256"] == variant["sha256"]
