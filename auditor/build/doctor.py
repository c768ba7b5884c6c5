"""`auditor doctor`: every toolchain and tool a scan needs, and how to get what is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from auditor.build import toolchain as tc_mod

_SUDO = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "


@dataclass
class Tool:
    name: str
    purpose: str
    found: bool
    path: str | None = None
    version: str | None = None
    required: bool = False
    fix: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "purpose": self.purpose, "found": self.found, "path": self.path,
                "version": self.version, "required": self.required, "fix": self.fix}


@dataclass
class DoctorResult:
    KIND = "doctor"
    toolchains: list[tc_mod.Toolchain]
    selected: tc_mod.Toolchain | None
    reason: str
    explicit: bool
    tools: list[Tool] = field(default_factory=list)
    findings: list = field(default_factory=list)

    @property
    def scan_ready(self) -> bool:
        return self.selected is not None and all(t.found for t in self.tools if t.required)

    def exit_code(self) -> int:
        return 0 if self.scan_ready else 2

    def to_json(self) -> dict:
        return {
            "schema": "auditor.doctor/1",
            "scan_ready": self.scan_ready,
            "selected": None if self.selected is None else self.toolchains.index(self.selected),
            "reason": self.reason,
            "explicit": self.explicit,
            "toolchains": [t.to_json() for t in self.toolchains],
            "tools": [t.to_json() for t in self.tools],
            "python": sys.version.split()[0],
        }


def _apt(package: str) -> str:
    return f"{_SUDO}apt-get install {package}" if shutil.which("apt-get") else f"install {package} with your package manager"


def _binary(name: str, purpose: str, package: str, required: bool = False) -> Tool:
    path = shutil.which(name)
    version = None
    if path:
        try:
            p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, input="")
            version = (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    return Tool(name, purpose, path is not None, path, version, required, None if path else _apt(package))


def _module(name: str, purpose: str, required: bool) -> Tool:
    spec = importlib.util.find_spec(name)
    version = None
    if spec is not None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(name)
        except Exception:  # a module without distribution metadata still works
            version = None
    return Tool(f"python: {name}", purpose, spec is not None, spec.origin if spec else None, version, required,
                None if spec else f"{sys.executable} -m pip install {name}")


def diagnose(crate_dir: Path | None = None, cache_dir: Path | None = None,
             build_std: tuple[list[str], str] | None = None) -> DoctorResult:
    found = tc_mod.discover(crate_dir, cache_dir, all_of_them=True, build_std=build_std)
    tools = [
        _module("wasmtime", "runtime probes (auditor run, scan runtime columns)", required=False),
        _module("brotli", "brotli sizes", required=True),
        _binary("wasm-opt", "binaryen's optimiser, to compare against `wasm-opt -Oz` yourself", "binaryen"),
        _binary("wasm-objdump", "wabt's independent reader, to check auditor's figures", "wabt"),
        _binary("wat2wasm", "wabt's assembler (tests and .wat fixtures)", "wabt"),
    ]
    return DoctorResult(found.toolchains, found.selected, found.reason, found.explicit, tools)
