"""Shipping stages in a scan (issue 11): cargo's module -> wasm-bindgen CLI -> wasm-opt.

The runner calls `ship_variant(runner, cache, variant, module)` after inspecting cargo's
module; every module file goes from step to step as a `ModuleFile` (pipeline/module_file.py)
with the parse the first step made (inspect, else wasm-opt's feature list), so each is
parsed once.
Each stage's files go in the variant's cache entry (keyed by the stage options, the tool
versions and the input's hash), each stage gets its sizes (`stages[]` in the variant
record), and the selected stage (default: the last one that ran, "shipped") becomes the
variant's `wasm` record and `wasm_path`, so the matrix table, the recommendation, budgets
and diffs read what is deployed. The wasm stage reads the module's features
(`auditor.wasm.features`) and hands them to build/ship's wasm-opt as plain data.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from auditor.build import ship as B
from auditor.build.cache import code_hash, digest, file_sha256
from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.pipeline.module_file import ModuleFile
from auditor.records.inspect import InspectRecord
from auditor.records.scan import ShipCommandRecord, StageRecord

STAGES = ("cargo", "bindgen", "wasm-opt")


def options_from_config(config: ConfigView | None, overrides: dict[str, Any] | None = None) -> B.ShipOptions:
    """ShipOptions from rules/ship.toml's defaults, config `[ship]`, then `overrides`
    (scan options: bindgen, wasm_opt, wasm_opt_level, bindgen_target, stage, install)."""
    d = B.ship_rules()["defaults"]
    auto = None if d["wasm-opt"] == "auto" else bool(d["wasm-opt"])

    def get(key: str, default: Any) -> Any:
        v = config.get(f"ship.{key}") if config is not None else None
        return default if v is None else v

    o = B.ShipOptions(
        bindgen=bool(get("bindgen", d["bindgen"])), bindgen_target=str(get("bindgen-target", d["bindgen-target"])),
        bindgen_args=list(get("bindgen-args", [])), wasm_opt=get("wasm-opt", auto),
        wasm_opt_level=str(get("wasm-opt-level", d["wasm-opt-level"])), wasm_opt_args=list(get("wasm-opt-args", [])),
        install=bool(get("install", d["install"])), stage=str(get("stage", "shipped")),
    )
    for k, v in (overrides or {}).items():
        if v is not None:
            setattr(o, k, v)
    if o.stage not in (*STAGES, "shipped"):
        raise AuditorError(f"--stage: expected one of {', '.join((*STAGES, 'shipped'))}, got {o.stage!r}")
    return o


def _sizes(path: Path, compression: str) -> dict[str, Any]:
    from auditor.wasm.features import compressed

    data = path.read_bytes()
    gz, br = compressed(data, compression)
    return {"path": str(path), "bytes": len(data), "gzip": gz, "brotli": br}


class Shipper:
    """Finds the tools once per scan and runs the stages for each variant."""

    def __init__(self, options: B.ShipOptions, lock_dir: Path, cargo: str | None, rustc: str | None,
                 compression: str, notice: Any):
        self.options, self.cargo, self.rustc, self.compression = options, cargo, rustc, compression
        self.notice = notice  # callable(str): a scan notice (stderr and the report's notices)
        self.bindgen_version = B.locked_version(lock_dir / "Cargo.lock", B.ship_rules()["bindgen"]["crate"])
        self._bindgen: B.Tool | None | bool = False  # False: not looked for yet; None: unavailable
        self._opt: B.Tool | None | bool = False
        self.tools: dict[str, dict[str, str]] = {}

    def bindgen_tool(self) -> B.Tool | None:
        if self._bindgen is False:
            self._bindgen = None
            if self.bindgen_version:
                try:
                    t = B.find_wasm_bindgen(self.bindgen_version, cargo=self.cargo, rustc=self.rustc,
                                            install=self.options.install, say=self.notice)
                    self._bindgen = t
                    self.tools["wasm-bindgen"] = {"version": t.version, "path": t.path, "source": t.source}
                except AuditorError as e:
                    self.notice(f"bindgen stage skipped: {e.line()}")
        return cast("B.Tool | None", self._bindgen)

    def opt_tool(self) -> B.Tool | None:
        if self._opt is False:
            self._opt = B.find_wasm_opt(install=self.options.install, say=self.notice)
            if self._opt is None:
                self.notice("wasm-opt stage skipped: no wasm-opt found (scripts/setup-ship.sh installs binaryen)")
            else:
                t = self._opt
                self.tools["wasm-opt"] = {"version": t.version, "path": t.path, "source": t.source}
        return cast("B.Tool | None", self._opt)

    def ship(self, cache: Any, lib_name: str, module: ModuleFile, cargo_record: InspectRecord,
             inspect: Callable[[ModuleFile, str], InspectRecord]
             ) -> tuple[list[StageRecord], str, ModuleFile, InspectRecord]:
        """Run the stages on cargo's `module`; returns (stages, selected stage name, its
        module, its inspect record). `inspect(module, shown) -> InspectRecord` is the
        cached inspect (its parse kept on the ModuleFile); `cache` the variant's VariantCache."""
        o = self.options
        stages: list[dict[str, Any]] = [{"name": "cargo", "tool": None, **_sizes(module.path, self.compression)}]
        records: dict[str, tuple[ModuleFile, InspectRecord]] = {"cargo": (module, cargo_record)}
        current_file = module
        current = module.path
        if o.bindgen and self.bindgen_version and (tool := self.bindgen_tool()) is not None:
            key = digest([code_hash("auditor.build.ship"), o.bindgen_target, o.bindgen_args, tool.version,
                          file_sha256(current)])[:16]
            out_dir = cache.path(f"ship-bindgen-{key}")
            bg, js = out_dir / f"{lib_name}_bg.wasm", out_dir / f"{lib_name}.js"
            if not bg.is_file():
                tmp = cache.path(f".ship-bindgen-{key}.tmp")
                res = B.run_bindgen(tool, current, tmp, lib_name, o.bindgen_target, o.bindgen_args)
                shutil.rmtree(out_dir, ignore_errors=True)
                tmp.rename(out_dir)
                bg = out_dir / res.wasm.name
                js = out_dir / res.js.name if res.js else js
            stage: dict[str, Any] = {"name": "bindgen", "tool": {"name": "wasm-bindgen", "version": tool.version,
                                                                 "source": tool.source},
                                     "target": o.bindgen_target, **_sizes(bg, self.compression)}
            stage["js"] = _sizes(js, self.compression) if js.is_file() else None
            stages.append(stage)
            current_file = ModuleFile(bg)
            records["bindgen"] = (current_file, inspect(current_file, f"pkg/{bg.name}"))
            current = bg
        run_opt = o.wasm_opt if o.wasm_opt is not None else len(stages) > 1  # auto: after the CLI
        if run_opt and (opt := self.opt_tool()) is not None:
            from auditor.wasm.features import used_features

            features = used_features(current_file.module())  # the input's parse, made by its inspect
            key = digest([code_hash("auditor.build.ship"), o.wasm_opt_level, o.wasm_opt_args, opt.version, opt.path,
                          features, file_sha256(current)])[:16]
            out = cache.path(f"ship-opt-{key}.wasm")
            if not out.is_file():
                tmp = cache.path(f".ship-opt-{key}.tmp.wasm")
                try:
                    B.run_wasm_opt(opt, current, tmp, o.wasm_opt_level, features, o.wasm_opt_args)
                    tmp.rename(out)
                except AuditorError as e:
                    self.notice(f"wasm-opt stage failed: {e.line()}")
            if out.is_file():
                stages.append({"name": "wasm-opt", "tool": {"name": "wasm-opt", "version": opt.version,
                                                            "source": opt.source},
                               "level": o.wasm_opt_level, "enable": B.feature_flags(features),
                               **_sizes(out, self.compression)})
                current_file = ModuleFile(out)
                records["wasm-opt"] = (current_file, inspect(current_file, f"pkg/{current.name}"))
                current = out
        ran = [s["name"] for s in stages]
        chosen = ran[-1] if o.stage == "shipped" else o.stage
        if chosen not in records:
            self.notice(f"--stage {chosen}: that stage did not run; using {ran[-1]}")
            chosen = ran[-1]
        for s in stages:
            s["shipped"] = s["name"] == ran[-1]
            s["selected"] = s["name"] == chosen
        path, rec = records[chosen]
        return cast("list[StageRecord]", stages), chosen, path, rec  # complete now: shipped/selected set


def _inspect_cached(cache: Any, compression: str, module: ModuleFile, shown: str) -> InspectRecord:
    name = (f"inspect-ship-{digest([code_hash('auditor.wasm', ('allocators.toml',)), compression, shown, file_sha256(module.path)])[:20]}"
            ".json")
    hit = cache.analysis(name)
    if hit is not None:
        return cast(InspectRecord, hit)
    data = module.inspect(shown, compression).to_json()  # its parse kept for the next steps
    cache.put_json(name, data)
    return data


def ship_variant(runner: Any, cache: Any, v: Any, module: ModuleFile) -> ModuleFile:
    """The runner's hook: run the shipping stages for variant `v` (cargo's `module`), then
    point `v.wasm`/`v.wasm_path` at the selected stage and record every stage in `v.stages`.
    `cache`: where the stages' outputs are kept (the runner's entry for cargo's module).
    Returns the selected stage's module (`module` itself when no stage ran), with the
    parse its inspect made."""
    sh = getattr(runner, "_shipper", None)
    if sh is None:
        def notice(msg: str) -> None:
            if msg not in runner.notices:
                runner.notices.append(msg)
                runner.rep.notice(msg)
        opts = options_from_config(runner.config, getattr(runner.options, "ship", None))
        sh = runner._shipper = Shipper(opts, runner.crate.workspace_root, runner.tc.cargo, runner.tc.rustc,
                                       runner.options.compression, notice)
    applies = sh.options.bindgen and sh.bindgen_version is not None
    if not applies and not sh.options.wasm_opt:
        return module  # not a wasm-bindgen crate (or the CLI is off) and wasm-opt not asked for
    comp = runner.options.compression
    stages, chosen, selected, rec = sh.ship(cache, runner.crate.lib_name, module, v.wasm,
                                            lambda m, shown: _inspect_cached(cache, comp, m, shown))
    v.stages, v.stage = stages, chosen
    v.wasm, v.wasm_path = rec, str(selected.path)
    return selected


def ship_commands(options: B.ShipOptions, lock_dir: Path, lib_name: str, cargo_out: str, out_dir: str,
                  built: Path | None) -> list[ShipCommandRecord]:
    """The shipping stages' commands for one variant (`scan --print-commands`), after the
    cargo line that writes `cargo_out`: what `ship()` runs, with the tools it would find
    (never installing one). wasm-opt gets one `--enable-…` flag per feature of cargo's
    module, so its line is exact only when that module is in the cache (`built`, a
    previous scan); otherwise it says which flags to add and `exact` is false."""
    version = B.locked_version(lock_dir / "Cargo.lock", B.ship_rules()["bindgen"]["crate"])
    bindgen = options.bindgen and version is not None
    rows: list[ShipCommandRecord] = []
    current = cargo_out
    if bindgen:
        assert version is not None
        try:
            tool = B.find_wasm_bindgen(version, cargo=None, rustc=None, install=False).path
        except AuditorError:
            tool = "wasm-bindgen"
        argv = [tool, "--target", options.bindgen_target, "--out-dir", out_dir, "--out-name", lib_name,
                *options.bindgen_args, current]
        note = None if tool != "wasm-bindgen" else \
            f"wasm-bindgen {version} not installed: cargo install wasm-bindgen-cli --version {version}"
        rows.append({"stage": "bindgen", "argv": argv, "exact": True, "note": note, "shell": shlex.join(argv)})
        current = f"{out_dir}/{lib_name}_bg.wasm"
    run_opt = options.wasm_opt if options.wasm_opt is not None else bindgen
    if run_opt:
        opt = B.find_wasm_opt(install=False, say=lambda _msg: None)
        flags: list[str] = []
        exact = built is not None and built.is_file()
        if exact:
            from auditor.wasm.features import file_features

            assert built is not None
            known = B.supported_flags(opt) if opt is not None else set()
            flags = [f for f in B.feature_flags(file_features(str(built))) if not known or f in known]
        # wasm-pack rewrites the CLI's module in place; cargo's own output is left alone.
        out = current if bindgen else f"{current.removesuffix('.wasm')}.opt.wasm"
        argv = [opt.path if opt else "wasm-opt", options.wasm_opt_level, *flags, *options.wasm_opt_args, current,
                "-o", out]
        note = None if exact else ("add --enable-<feature> for each feature of cargo's module (the scan reads "
                                   "them from it; scan once and print again for the exact line)")
        if opt is None:
            note = "no wasm-opt found (npm install binaryen)" + (f"; {note}" if note else "")
        rows.append({"stage": "wasm-opt", "argv": argv, "exact": exact, "note": note, "shell": shlex.join(argv)})
    return rows
