"""Issue 11: the shipping stages (wasm-bindgen CLI, wasm-opt), `check FILE.wasm`, and the
wasm-bindgen-aware runtime, on fixtures/crates/bindgen_app (wasm-bindgen 0.2.105, rustc 1.96).

One scan (release x default, runtime on) is shared by every test here. The figures are
checked against the files the real tools write when run by the test itself (the CLI,
wasm-opt, gzip, brotli, wasm-objdump), and the scenario verdicts against Node running the
CLI's own JS glue (`--target nodejs`).

The tools come from auditor's tool cache, which scripts/setup-ship.sh fills
($AUDITOR_TOOLS_DIR, else ~/.cache/auditor/tools): the session's private XDG cache would
make every session build the CLI again (about 2 CPU-minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fixturelib

pytestmark = [pytest.mark.cargo, pytest.mark.toolchains("rust196")]

TOOLS = Path(os.environ.get("AUDITOR_TOOLS_DIR") or Path.home() / ".cache" / "auditor" / "tools")
ENV = {"AUDITOR_TOOLS_DIR": str(TOOLS)}
SCAN_ARGS = ("--profiles", "release", "--allocators", "default", "--format", "json")


@pytest.fixture(scope="module")
def report(toolchain):
    r = fixturelib.scan_report("bindgen_app", *SCAN_ARGS, toolchain=toolchain, env=ENV)
    return r


@pytest.fixture(scope="module")
def variant(report):
    (v,) = report["variants"]
    assert v["status"] == "ok", v.get("error")
    return v


def _stage(v, name):
    return next(s for s in v["stages"] if s["name"] == name)


def _tool(v, name):
    s = _stage(v, name)
    if name == "bindgen":
        return str(TOOLS / "wasm-bindgen-cli" / s["tool"]["version"] / "bin" / "wasm-bindgen")
    return next(str(p) for p in TOOLS.glob("binaryen/*/node_modules/binaryen/bin/wasm-opt"))


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r


def _exports(path: Path) -> list[str]:
    out = _run(["wasm-objdump", "-x", "-j", "Export", path]).stdout
    return [line.rsplit('"', 2)[1] for line in out.splitlines() if line.strip().startswith("- ") and '-> "' in line]


def test_stages_ran_in_order_and_the_shipped_one_drives_the_variant(variant):
    assert [s["name"] for s in variant["stages"]] == ["cargo", "bindgen", "wasm-opt"]
    assert variant["stage"] == "wasm-opt"
    shipped = _stage(variant, "wasm-opt")
    assert shipped["shipped"] and shipped["selected"]
    assert variant["wasm"]["bytes"] == shipped["bytes"] == Path(variant["wasm_path"]).stat().st_size
    # the version matched to the lock file
    lock = (fixturelib.fixture_crate("bindgen_app") / "Cargo.lock").read_text()
    assert f'name = "wasm-bindgen"\nversion = "{_stage(variant, "bindgen")["tool"]["version"]}"' in lock
    # every figure is its file's size
    for s in variant["stages"]:
        assert s["bytes"] == Path(s["path"]).stat().st_size
    assert _stage(variant, "bindgen")["js"]["bytes"] == Path(_stage(variant, "bindgen")["js"]["path"]).stat().st_size


def test_bindgen_stage_equals_the_real_cli_output(variant, tmp_path):
    cargo = Path(_stage(variant, "cargo")["path"])
    bg = _stage(variant, "bindgen")
    _run([_tool(variant, "bindgen"), "--target", "web", "--out-dir", tmp_path, "--out-name", "bindgen_app", cargo])
    assert (tmp_path / "bindgen_app_bg.wasm").stat().st_size == bg["bytes"]
    assert (tmp_path / "bindgen_app_bg.wasm").read_bytes() == Path(bg["path"]).read_bytes()
    assert (tmp_path / "bindgen_app.js").stat().st_size == bg["js"]["bytes"]
    # what the CLI removes, seen by wasm-objdump
    before, after = _exports(cargo), _exports(tmp_path / "bindgen_app_bg.wasm")
    assert sum(n.startswith("__wbindgen_describe") for n in before) > 10
    assert not any(n.startswith("__wbindgen_describe") for n in after)
    assert "safe_allocation" in after
    assert "__wasm_bindgen_unstable" in _run(["wasm-objdump", "-h", cargo]).stdout
    assert "__wasm_bindgen_unstable" not in _run(["wasm-objdump", "-h", bg["path"]]).stdout


def test_wasm_opt_stage_equals_wasm_opt_with_the_modules_features(variant, tmp_path):
    opt = _stage(variant, "wasm-opt")
    # the flags come from the module's target_features section, as wasm-objdump lists it
    listed = _run(["wasm-objdump", "-x", "-j", "target_features", _stage(variant, "cargo")["path"]]).stdout
    assert "bulk-memory" in listed and "--enable-bulk-memory" in opt["enable"]
    assert "nontrapping-fptoint" in listed and "--enable-nontrapping-float-to-int" in opt["enable"]
    out = tmp_path / "o.wasm"
    _run([_tool(variant, "wasm-opt"), "-O", *opt["enable"], _stage(variant, "bindgen")["path"], "-o", out])
    assert out.stat().st_size == opt["bytes"] < _stage(variant, "bindgen")["bytes"]
    _run(["wasm-validate", "--enable-all", out])


NODE_SIZES = r"""
const z = require("zlib"), b = require("fs").readFileSync(process.argv[1]);
console.log(JSON.stringify([z.gzipSync(b, {level: 9}).length,
  z.brotliCompressSync(b, {params: {[z.constants.BROTLI_PARAM_QUALITY]: 11}}).length]));
"""


def test_printed_commands_reproduce_the_shipped_module(toolchain, variant, tmp_path):
    """`scan --print-commands` after the scan: the wasm-bindgen and wasm-opt lines it prints,
    run in a clean shell on cargo's module (put where the printed cargo line writes it),
    give the shipped module byte for byte."""
    p = fixturelib.scan("bindgen_app", "--profiles", "release", "--allocators", "default", "--print-commands",
                        "--format", "json", toolchain=toolchain, env=ENV)
    (row,) = json.loads(p.stdout)["variants"]
    assert [s["stage"] for s in row["ship"]] == ["bindgen", "wasm-opt"]
    assert all(s["exact"] and s["note"] is None for s in row["ship"]), row["ship"]
    bindgen, opt = row["ship"]
    cargo_out = tmp_path / bindgen["argv"][-1]
    assert not Path(bindgen["argv"][-1]).is_absolute()  # relative to the crate, as cargo writes it
    cargo_out.parent.mkdir(parents=True)
    shutil.copy(_stage(variant, "cargo")["path"], cargo_out)
    for st in row["ship"]:
        r = subprocess.run(["env", "-i", f"PATH={os.environ['PATH']}", "sh", "-c", st["shell"]], cwd=tmp_path,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (st["shell"], r.stderr[-2000:])
    shipped = next(s for s in variant["stages"] if s["shipped"])
    assert shipped["name"] == "wasm-opt"
    assert (tmp_path / opt["argv"][-1]).read_bytes() == Path(shipped["path"]).read_bytes()
    # Before any scan (an empty cache) cargo's module and so its features are unknown: the
    # wasm-opt line says so instead of guessing flags.
    cold = subprocess.run([sys.executable, "-m", "auditor", "scan", str(fixturelib.fixture_crate("bindgen_app")),
                           "--profiles", "release", "--allocators", "default", "--print-commands", "--format", "json",
                           "--cache-dir", str(tmp_path / "empty")], env=fixturelib.scan_env(toolchain, ENV),
                          capture_output=True, text=True, check=True)
    (row,) = json.loads(cold.stdout)["variants"]
    assert row["ship"][0]["shell"] == bindgen["shell"] and row["ship"][0]["exact"]
    assert not row["ship"][1]["exact"] and "--enable-<feature>" in row["ship"][1]["note"]
    assert not any(a.startswith("--enable-") for a in row["ship"][1]["argv"])
    assert any(a.startswith("--enable-") for a in opt["argv"])  # rustc 1.96's module needs some


def test_compressed_sizes_match_gzip_and_brotli_clis(variant):
    """brotli -q 11: byte-exact with the brotli CLI and Node's binding. gzip -9: deflate
    encoders differ by a few tenths of a percent (GNU gzip, Node's bundled zlib, the
    system zlib auditor uses), so within 1 % of both."""
    for s in (_stage(variant, "bindgen"), _stage(variant, "wasm-opt"), _stage(variant, "bindgen")["js"]):
        gz = subprocess.run(["gzip", "-9", "-n", "-c", s["path"]], capture_output=True).stdout
        br = subprocess.run(["brotli", "-q", "11", "-c", s["path"]], capture_output=True).stdout
        node_gz, node_br = json.loads(_run(["node", "-e", NODE_SIZES, s["path"]]).stdout)
        assert len(br) == node_br == s["brotli"]
        for ref in (len(gz), node_gz):
            assert abs(ref - s["gzip"]) <= ref / 100, (s["path"], ref, s["gzip"])


def test_findings_only_on_the_unprocessed_stage(report, variant, toolchain):
    ids = {f["rule"] for f in report["findings"]}
    assert "AUD410" not in ids
    cargo = fixturelib.scan_report("bindgen_app", *SCAN_ARGS, "--stage", "cargo", toolchain=toolchain, env=ENV)
    (v,) = cargo["variants"]
    assert v["stage"] == "cargo" and v["wasm"]["bytes"] == _stage(variant, "cargo")["bytes"]
    assert [s["bytes"] for s in v["stages"]] == [s["bytes"] for s in variant["stages"]]
    assert any(f["rule"] == "AUD410" for f in cargo["findings"])


def test_recommendation_reads_the_shipped_size(report, variant):
    rec = report.get("recommended") or {}
    assert rec.get("variant") == variant["id"]
    assert rec["bytes"] == variant["wasm"]["bytes"] == _stage(variant, "wasm-opt")["bytes"]


def test_safe_allocation_200mb_returns_none_on_every_variant(report):
    for v in report["variants"]:
        by_name = {s["name"]: s for s in v["runtime"]["scenarios"]}
        s = by_name["safe_allocation(200_000_000) is None"]
        assert s["observed"] == "none" and s["passed"], s
        assert by_name["small allocation is Some"]["observed"] == "some"
        assert by_name["empty dataset is an error"]["observed"] == "err"
        ok = by_name["dataset through __wbindgen_malloc"]
        assert ok["passed"] and ok["value"] == sum(i % 251 for i in range(4096))
        assert ok["stdout"].startswith(f"checksum {ok['value']} in ")  # console.log captured


NODE = r"""
const m = require(process.argv[2]);
const err = (f) => { try { f(); return "ok"; } catch (e) { return "err"; } };
console.log(JSON.stringify({
  huge: m.safe_allocation(3000000000) === undefined ? "none" : "some",
  small: m.safe_allocation(1000) === undefined ? "none" : "some",
  empty: err(() => m.checked_sum(new Uint8Array([]))),
  three: err(() => m.checked_sum(new Uint8Array([1, 2, 3]))),
  sum: m.process_large_dataset(new Uint8Array([1, 2, 3])),
}));
"""

SCENARIOS = """
[[scenario]]
name = "huge"
export = "safe_allocation"
args = [3000000000]
expect = "none"
[[scenario]]
name = "small"
export = "safe_allocation"
args = [1000]
expect = "some"
[[scenario]]
name = "empty"
export = "checked_sum"
args = [{ data = [] }]
expect = "err"
[[scenario]]
name = "three"
export = "checked_sum"
args = [{ data = [1, 2, 3] }]
expect = "err"
[[scenario]]
name = "sum"
export = "process_large_dataset"
args = [{ data = [1, 2, 3] }]
"""


@pytest.mark.parametrize("stage", ["cargo", "bindgen"])
def test_scenario_verdicts_match_node_running_the_clis_glue(variant, tmp_path, stage):
    """auditor decodes cargo's retptr form and the CLI's multi-value form; Node runs the
    CLI's `--target nodejs` glue on the same module: the Rust-level verdicts agree."""
    _run([_tool(variant, "bindgen"), "--target", "nodejs", "--out-dir", tmp_path / "node", "--out-name", "app",
          _stage(variant, "cargo")["path"]])
    (tmp_path / "t.js").write_text(NODE)
    node = json.loads(_run(["node", tmp_path / "t.js", tmp_path / "node" / "app.js"]).stdout)
    (tmp_path / "auditor.toml").write_text(SCENARIOS)
    module = _stage(variant, stage)["path"]
    r = subprocess.run([sys.executable, "-m", "auditor", "run", module, "--config", tmp_path / "auditor.toml",
                        "--format", "json"], capture_output=True, text=True, cwd=tmp_path)
    got = {s["name"]: s for s in json.loads(r.stdout)["scenarios"]}
    for name in ("huge", "small", "empty", "three"):
        assert got[name]["observed"] == node[name], (name, got[name], node)
    assert got["three"]["observed"] == "ok" and not got["three"]["passed"]  # a wrong expectation fails
    assert got["sum"]["value"] == node["sum"] == 6


def test_check_gates_the_shipped_module(variant, tmp_path):
    shipped = shutil.copy(variant["wasm_path"], tmp_path / "app_bg.wasm")
    base = [sys.executable, "-m", "auditor", "check", shipped]
    ok = subprocess.run([*base, "--budget", "raw<=150 KiB", "--budget", "brotli<=60 KiB"], capture_output=True,
                        text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    size = Path(shipped).stat().st_size
    assert f"{size:,} B" in ok.stdout
    for fmt in ("text", "json", "markdown", "sarif", "junit", "github"):
        bad = subprocess.run([*base, "--budget", f"raw<={size - 1} B", "--format", fmt], capture_output=True,
                             text=True, cwd=tmp_path)
        assert bad.returncode == 1, (fmt, bad.stderr)
    j = json.loads(subprocess.run([*base, "--budget", f"raw<={size - 1} B", "--format", "json"],
                                  capture_output=True, text=True, cwd=tmp_path).stdout)
    assert j["budgets"][0]["variants"][0]["limits"][0]["actual"] == size
