"""Issue 11 without cargo: config of the shipping stages, the feature -> wasm-opt flag
table against wasm-opt's own --help, features read from hand-written .wat, the lock-file
version, --budget parsing and the wasm-bindgen scenario keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from auditor.build import ship as B
from auditor.config.loader import load_config
from auditor.errors import AuditorError
from auditor.pipeline.check_module import parse_budget
from auditor.pipeline.ship import options_from_config
from auditor.runtime.bindgen import arg_bytes, decode, stub_kind, wants_retptr
from auditor.runtime.options import Scenario
from auditor.wasm.features import used_features
from auditor.wasm.parse import parse_module


def test_ship_config_and_overrides(tmp_path):
    (tmp_path / "auditor.toml").write_text('[ship]\nwasm-opt-level = "-Oz"\nbindgen-target = "nodejs"\nstage = "bindgen"\n')
    cfg = load_config(tmp_path)
    o = options_from_config(cfg)
    assert (o.wasm_opt_level, o.bindgen_target, o.stage, o.wasm_opt) == ("-Oz", "nodejs", "bindgen", None)
    o = options_from_config(cfg, {"stage": "cargo", "wasm_opt": False, "bindgen": None})
    assert (o.stage, o.wasm_opt, o.bindgen) == ("cargo", False, True)
    (tmp_path / "auditor.toml").write_text('[ship]\nwasm-opt-level = "-O9"\n')
    with pytest.raises(AuditorError):
        load_config(tmp_path)


def test_every_flag_in_the_table_is_one_wasm_opt_knows():
    """Against the npm binaryen scripts/setup-ship.sh installs (the version the table is for)."""
    tools = Path(os.environ.get("AUDITOR_TOOLS_DIR") or Path.home() / ".cache" / "auditor" / "tools")
    want = B.ship_rules()["wasm-opt"]["npm-version"]
    exe = tools / "binaryen" / want / "node_modules" / "binaryen" / "bin" / "wasm-opt"
    assert exe.is_file(), f"{exe}: run scripts/setup-ship.sh"
    known = B.supported_flags(B.Tool("wasm-opt", str(exe), want, "cache"))
    table = B.ship_rules()["wasm-opt"]["enable"]
    assert set(table.values()) <= known, set(table.values()) - known
    assert B.feature_flags(["+sign-ext", "sign-extension-ops", "no-such-feature"]) == ["--enable-sign-ext"]


def test_wasm_opt_help_is_asked_once_per_binary(tmp_path):
    """npm's wasm-opt takes 1-1.5 s for --help; a scan asked it once per variant."""
    log, exe = tmp_path / "calls", tmp_path / "wasm-opt"
    exe.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\necho '  --enable-simd  --enable-bulk-memory'\n")
    exe.chmod(0o755)
    tool = B.Tool("wasm-opt", str(exe), "1", "path")
    assert B.supported_flags(tool) == B.supported_flags(tool) == {"--enable-simd", "--enable-bulk-memory"}
    assert log.read_text().splitlines() == ["--help"]
    exe.write_text(exe.read_text().replace("--enable-simd ", "--enable-gc "))  # another binary there now
    assert B.supported_flags(tool) == {"--enable-gc", "--enable-bulk-memory"}
    assert log.read_text().splitlines() == ["--help", "--help"]


WAT = """(module
  (memory 1)
  (func (export "f") (param i32) (result i32)
    local.get 0 i32.extend8_s
    v128.const i32x4 1 2 3 4 i32x4.extract_lane 0 i32.add)
  (func (export "g") (param i32) (memory.fill (i32.const 0) (local.get 0) (i32.const 4))))
"""


def test_features_from_opcodes_of_a_hand_written_module(tmp_path):
    src = tmp_path / "m.wat"
    src.write_text(WAT)
    subprocess.run(["wat2wasm", src, "-o", tmp_path / "m.wasm"], check=True)
    feats = used_features(parse_module((tmp_path / "m.wasm").read_bytes()))
    assert {"simd", "sign-extension-ops", "bulk-memory"} <= set(feats)
    assert B.feature_flags(feats) == ["--enable-bulk-memory", "--enable-sign-ext", "--enable-simd"]


def test_locked_version_reads_the_lock(tmp_path):
    lock = tmp_path / "Cargo.lock"
    lock.write_text('version = 3\n[[package]]\nname = "wasm-bindgen"\nversion = "0.2.9"\n'
                    '[[package]]\nname = "wasm-bindgen"\nversion = "0.2.105"\n')
    assert B.locked_version(lock, "wasm-bindgen") == "0.2.105"
    assert B.locked_version(lock, "js-sys") is None
    assert B.locked_version(tmp_path / "missing.lock", "wasm-bindgen") is None


def test_budget_specs():
    assert parse_budget("brotli<=60 KiB") == {"name": "brotli<=60 KiB", "brotli": "60 KiB"}
    for bad in ("brotli=60", "size<=1", "raw>=3"):
        with pytest.raises(AuditorError):
            parse_budget(bad)


def test_bindgen_scenario_keys_and_decoding():
    s = Scenario.from_dict({"export": "f", "args": [{"bytes": 3}, 7], "expect": "none"})
    assert s.args == ({"bytes": 3}, 7)
    with pytest.raises(AuditorError):
        Scenario.from_dict({"export": "f", "args": [{"bytes": 3, "data": []}]})
    assert arg_bytes({"bytes": 3}) == b"\0\1\2" and arg_bytes({"data": [256, 1]}) == b"\0\1"
    assert wants_retptr(("i32", "i32"), (), 1) and not wants_retptr(("i32",), ("i32",), 1)
    assert decode("none", [0, 0], 2) == "none" and decode("some", [8, 1], 2) == "some"
    assert decode("err", [0, 128, 1], 3) == "err" and decode("err", [5, 0, 0, 0], None) == "ok"
    assert stub_kind("wbg", "__wbg_now_b84181a0ef05456c") == "clock"
    assert stub_kind("__wbindgen_placeholder__", "__wbg_log_49fcbdc422d42675") == "console"
    assert stub_kind("env", "__wbg_now_x") is None
