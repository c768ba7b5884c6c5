"""`auditor fix`: rewrite the workspace-root profile to the recommended size settings.

tomlkit edits the document in place, so comments, key order, blank lines and the
user's spacing survive; only the values that break a profile rule change, and a second
run finds nothing to do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import AuditorError
from auditor.manifest import toml
from auditor.manifest.locate import find_manifest, find_workspace_root

# key -> (rule id, recommended value, values that already satisfy the rule)
RECOMMENDED = {
    "opt-level": ("AUD103", "z", ("s", "z")),
    "lto": ("AUD104", True, (True, "fat")),
    "codegen-units": ("AUD105", 1, (1,)),
    "panic": ("AUD109", "abort", ("abort",)),
    "strip": ("AUD106", True, (True, "symbols")),
}
# keys that must be false when the profile (or what it inherits) turns them on
MUST_BE_OFF = {"debug": "AUD107", "debug-assertions": "AUD108", "overflow-checks": "AUD108"}


@dataclass
class FixResult:
    manifest: Path
    display: str
    old: str
    new: str
    changes: list[str] = field(default_factory=list)  # "opt-level: 3 -> \"z\""
    elsewhere: list[str] = field(default_factory=list)  # keys overridden in .cargo/config.toml

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"a/{self.display}", tofile=f"b/{self.display}"))


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def plan_fix(path: Path | str = ".", profile: str = "release", disabled: frozenset = frozenset()) -> FixResult:
    """Compute the rewritten root manifest (nothing written); `disabled` = rule ids off."""
    import tomlkit

    from auditor.manifest.workspace import profile_facts

    manifest = find_manifest(path)
    doc = toml.load(manifest)
    root = find_workspace_root(manifest, doc)
    if root is not None and root.resolve() != manifest.resolve():
        rdisplay = toml.display_path(root)
        raise AuditorError(
            f"a workspace member: cargo reads profiles only from the workspace root {rdisplay} "
            f"(run `auditor fix {Path(rdisplay).parent}`)", doc.display)
    facts = profile_facts(doc, profile, missing_inherits="release")
    effective, at = facts["effective"], facts["at"]

    wanted: dict = {}
    elsewhere: list[str] = []
    for key, (rule, value, ok) in RECOMMENDED.items():
        if rule in disabled or any(_same(effective.get(key), v) for v in ok):
            continue
        wanted[key] = value
    for key, rule in MUST_BE_OFF.items():
        if rule in disabled:
            continue
        v = effective.get(key)
        if v not in (False, 0, "none") or isinstance(v, bool) and v:
            wanted[key] = False
    for key in list(wanted):
        loc = at.get(key)
        if loc and loc["file"] != doc.display:
            elsewhere.append(f"{key} is set in {loc['file']}:{loc['line']}, which overrides {doc.display}: edit it there")
            del wanted[key]

    tdoc = tomlkit.parse(doc.text)
    changes = []
    table, created = _profile_table(tdoc, profile)
    if created:
        changes.append(f"[profile.{profile}] created" + (" (inherits release)" if "inherits" in table else ""))
    for key, value in wanted.items():
        old = table.get(key)
        _set(table, key, value)
        changes.append(f"{key}: {_show(old) if old is not None else 'unset'} -> {_show(value)}")
    if created and changes:
        table.add(tomlkit.nl())  # a blank line before whatever table follows
    new = tomlkit.dumps(tdoc) if changes else doc.text
    if created and new.endswith("\n\n") and not doc.text.endswith("\n\n"):
        new = new[:-1]
    return FixResult(manifest, doc.display, doc.text, new, changes, elsewhere)


def _show(v) -> str:
    v = v.unwrap() if hasattr(v, "unwrap") else v
    if isinstance(v, bool):
        return "true" if v else "false"
    return f'"{v}"' if isinstance(v, str) else str(v)


def _profile_table(tdoc, name: str):
    """The profile's tomlkit table and whether it had to be created."""
    import tomlkit

    profiles = tdoc.get("profile")
    if profiles is None:
        if tdoc.body and not tdoc.as_string().endswith("\n\n"):
            tdoc.add(tomlkit.nl())
        sup = tomlkit.table(is_super_table=True)
        tbl = tomlkit.table()
        sup.append(name, tbl)
        tdoc.append("profile", sup)
        return tbl, True
    if name in profiles:
        return profiles[name], False
    tbl = tomlkit.table()
    if name not in ("release", "dev", "bench", "test"):
        tbl["inherits"] = "release"
    profiles.append(name, tbl)
    return tbl, True


def _set(table, key: str, value) -> None:
    """Replace a value keeping the line's comment and indentation, or append the key."""
    import tomlkit

    if key in table:
        old = table.item(key) if hasattr(table, "item") else None
        new = tomlkit.item(value)
        if old is not None and hasattr(old, "trivia"):
            for attr in ("indent", "comment_ws", "comment", "trail"):
                setattr(new.trivia, attr, getattr(old.trivia, attr))
        table[key] = new
        return
    table.add(key, value)  # tomlkit keeps it above the blank line ending the table


def apply_fix(result: FixResult) -> None:
    from auditor.io import atomic_write

    if result.new != result.old:
        atomic_write(result.manifest, result.new)
