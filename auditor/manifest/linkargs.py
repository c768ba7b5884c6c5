"""Linker settings a crate makes outside Cargo.toml: .cargo/config.toml and build.rs.

`--max-memory` and the stack size are linker arguments, so cargo never sees them as
settings: they hide in rustflags (`-C link-arg=--max-memory=N`) or in a build script's
`cargo:rustc-link-arg=` lines. Cargo's rule for rustflags matters here: when any
`[target.<triple>]` / `[target.'cfg(..)']` rustflags match the target, `build.rustflags`
is ignored, and arrays from several config files are joined.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from auditor.manifest import toml
from auditor.records.manifest import LinkFlagRecord

# What `cfg(...)` sees for each wasm target a crate may be built for: a setting made for
# any of them counts (lint cannot know which one the user builds).
_WASM32 = {"target_arch": "wasm32", "target_family": "wasm", "target_pointer_width": "32",
           "target_endian": "little", "target_vendor": "unknown", "target_env": ""}
TARGETS = {
    "wasm32-unknown-unknown": {**_WASM32, "target_os": "unknown"},
    "wasm32-wasi": {**_WASM32, "target_os": "wasi"},
    "wasm32-wasip1": {**_WASM32, "target_os": "wasi", "target_env": "p1"},
}
_CFG_NAMES = {"wasm"}  # bare cfg names true for every wasm target

_MAX_MEM = re.compile(r"--max-memory=(\d+)")
_STACK = re.compile(r"(?:-z\s*stack-size=|--stack-size=|-zstack-size=)(\d+)")
# the link args cargo passes to a cdylib: `rustc-link-arg`, `-cdylib` and its old spelling
# (`-bins`, `-tests`, ... go to other targets and leave the .wasm module unbounded)
_BUILD_RS = re.compile(r"cargo::?rustc-(?:link-arg(?:-cdylib)?|cdylib-link-arg)=([^\"\n]*)")


@dataclass
class Flag:
    """A linker setting found in a file: the value (None when computed at build time)."""

    value: int | None
    file: str
    line: int
    column: int
    via: str  # "rustflags" | "build.rs"

    def to_json(self) -> LinkFlagRecord:
        return {"set": True, "value": self.value, "file": self.file, "line": self.line,
                "column": self.column, "via": self.via}


def cargo_config_files(start: Path, memo: dict | None = None) -> list[Path]:
    """Config files cargo reads for a build run in `start`, nearest first.

    `memo` (directory -> its config file or None) saves the stat calls when many
    members of one workspace share the same ancestors.
    """
    memo = {} if memo is None else memo
    out = []
    for d in (start, *start.parents):
        key = str(d)
        if key not in memo:
            memo[key] = next((p for p in (d / ".cargo" / "config.toml", d / ".cargo" / "config") if p.is_file()), None)
        if memo[key] is not None:
            out.append(memo[key])
    return out


def _cfg_true(expr: str, cfg: dict) -> bool:
    expr = expr.strip()
    m = re.fullmatch(r"(all|any|not)\s*\((.*)\)", expr, re.S)
    if m:
        vals = [_cfg_true(a, cfg) for a in _split_args(m.group(2))]
        return all(vals) if m.group(1) == "all" else any(vals) if m.group(1) == "any" else not vals[0]
    m = re.fullmatch(r'(\w+)\s*=\s*"([^"]*)"', expr)
    if m:
        return cfg.get(m.group(1)) == m.group(2)
    return expr in _CFG_NAMES


def _split_args(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for c in s:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += c == "("
        depth -= c == ")"
        cur += c
    if cur.strip():
        parts.append(cur)
    return parts


def _target_applies(key: str, target: str) -> bool:
    if key == target:
        return True
    m = re.fullmatch(r"cfg\((.*)\)", key.strip(), re.S)
    return m is not None and _cfg_true(m.group(1), TARGETS[target])


def rustflags(start: Path, memo: dict | None = None,
              target: str = "wasm32-unknown-unknown") -> list[tuple[str, toml.TomlDoc, tuple]]:
    """The rustflags cargo would pass for `target`: (flag, doc, key path)."""
    target_flags, build_flags = [], []
    for path in cargo_config_files(start, memo):
        doc = toml.load(path)
        for key, table in (doc.data.get("target") or {}).items():
            if isinstance(table, dict) and "rustflags" in table and _target_applies(key, target):
                target_flags += _flags(doc, ("target", key, "rustflags"), table["rustflags"])
        build = doc.data.get("build") or {}
        if isinstance(build, dict) and "rustflags" in build:
            build_flags += _flags(doc, ("build", "rustflags"), build["rustflags"])
    return target_flags or build_flags


def _targets(start: Path, memo: dict | None) -> list[str]:
    """The wasm targets the crate's cargo config builds for: `build.target` and the
    `[target.<triple>]` tables it writes; wasm32-unknown-unknown when it names none."""
    named: list[str] = []
    for path in cargo_config_files(start, memo):
        data = toml.load(path).data
        build = data["build"] if isinstance(data.get("build"), dict) else {}
        build_targets = build.get("target", [])
        for t in [build_targets] if isinstance(build_targets, str) else build_targets:
            named.append(t)
        named += list(data.get("target") or {}) if isinstance(data.get("target"), dict) else []
    found = [t for t in TARGETS if t in named]
    return found or ["wasm32-unknown-unknown"]


def _flags(doc, path, value) -> list:
    if isinstance(value, str):
        return [(f, doc, path) for f in shlex.split(value)]
    if isinstance(value, list):
        return [(str(f), doc, path + (i,)) for i, f in enumerate(value)]
    return []


def _link_args(flags: list) -> list[tuple[str, toml.TomlDoc, tuple]]:
    """Linker arguments inside rustflags (`-C link-arg=X`, `-Clink-args=X Y`)."""
    out = []
    i = 0
    while i < len(flags):
        f, doc, path = flags[i]
        opt = None
        if f == "-C" and i + 1 < len(flags):
            opt, doc, path = flags[i + 1]
            i += 1
        elif f.startswith("-C"):
            opt = f[2:]
        elif f.startswith("--codegen="):
            opt = f[len("--codegen="):]
        if opt and opt.startswith("link-arg="):
            out.append((opt[len("link-arg="):], doc, path))
        elif opt and opt.startswith("link-args="):
            out.append((opt[len("link-args="):], doc, path))
        i += 1
    return out


def _find(pattern: re.Pattern, needle: str, start: Path, build_rs: Path | None,
          memo: dict | None = None) -> Flag | None:
    """First place a linker setting is made: rustflags (config files) win over build.rs, as in the link line."""
    for target in _targets(start, memo):
        args = _link_args(rustflags(start, memo, target))
        for n, (arg, doc, path) in enumerate(args):
            # `-C link-args=-z stack-size=N` or two link-arg's: `-z` then `stack-size=N`
            window = arg + (" " + args[n + 1][0] if n + 1 < len(args) else "")
            m = pattern.search(window)
            if m and m.start() < len(arg):
                line, col = doc.pos(path) or doc.pos(path[:-1]) or (1, 1)
                return Flag(int(m.group(1)), doc.display, line, col, "rustflags")
    if build_rs is not None and build_rs.is_file():
        text = build_rs.read_text(encoding="utf-8", errors="replace")
        for m in _BUILD_RS.finditer(text):
            arg = m.group(1)
            if needle not in arg or "//" in text[text.rfind("\n", 0, m.start()) + 1 : m.start()]:
                continue  # another setting, or a commented-out line
            val = pattern.search(arg)  # None when the number is formatted at build time
            line = text.count("\n", 0, m.start()) + 1
            col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
            return Flag(int(val.group(1)) if val else None, toml.display_path(build_rs), line, col, "build.rs")
    return None


def max_memory(start: Path, build_rs: Path | None, memo: dict | None = None) -> Flag | None:
    return _find(_MAX_MEM, "--max-memory", start, build_rs, memo)


def stack_size(start: Path, build_rs: Path | None, memo: dict | None = None) -> Flag | None:
    return _find(_STACK, "stack-size", start, build_rs, memo)
