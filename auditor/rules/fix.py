"""`auditor fix`: rewrite the workspace-root profile to what the profile rules recommend.

What to write comes from the rules themselves: every manifest rule that fires on the
profile contributes its `autofix` settings (rules/profile.toml), with the user's config
applied, so `fix` and `lint` cannot disagree and a rule turned off is left alone.
tomlkit edits the document in place, so comments, key order, blank lines and spacing
survive; a second run finds nothing to do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.manifest import toml
from auditor.manifest.locate import find_manifest, find_workspace_root
from auditor.records.manifest import ProfileFactsRecord


@dataclass
class FixResult:
    """The planned rewrite, kept apart from the write so --dry-run and the diff share it."""

    KIND: ClassVar[str] = "fix"
    manifest: Path
    display: str
    old: str
    new: str
    changes: list[str] = field(default_factory=list)  # "opt-level: 3 -> \"z\""
    elsewhere: list[str] = field(default_factory=list)  # keys overridden in .cargo/config.toml

    def to_json(self) -> dict[str, Any]:
        return {"schema": "auditor.fix/1", "manifest": self.display, "changes": self.changes,
                "elsewhere": self.elsewhere, "diff": self.diff()}

    def diff(self) -> str:
        out = []
        for line in difflib.unified_diff(self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
                                         fromfile=f"a/{self.display}", tofile=f"b/{self.display}"):
            # what `diff -u` prints, so `patch` and `git apply` accept the output
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)


def _as_string(item: Any) -> str:
    """An item as written in the document (tomlkit items, inline ones included)."""
    return str(item.as_string()).strip()


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def recommended(profile: ProfileFactsRecord, config: ConfigView | None = None) -> dict[str, Any]:
    """Settings the firing rules' `autofix` tables ask for, minus those already in effect.

    `profile` is manifest.workspace.profile_facts(). AUD101 (no profile) fires on the
    profile as it is; the per-key rules need a declared profile, so they also run on it
    as if declared: a created table then gets what they would ask of it.
    """
    from auditor.rules.engine import evaluate_rule, rules_for

    rules = [r for r in rules_for("manifest") if r.autofix]
    wanted: dict = {}
    for declared in (profile["declared"], True):
        facts = {"profile": {**profile, "declared": declared}, "root": {}, "packages": [],
                 "dependencies": [], "member_profiles": []}
        for rule in rules:
            check = evaluate_rule(rule, facts, config, target="fix")
            if check is not None and check.status == "fail":
                for key, value in rule.autofix.items():
                    wanted.setdefault(key, value)
    return {k: v for k, v in wanted.items() if not _same(profile["effective"].get(k), v)}


def plan_fix(path: Path | str = ".", profile: str = "release", config=None) -> FixResult:
    """Compute the rewritten root manifest (nothing written)."""
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
    wanted = recommended(facts, config)
    elsewhere: list[str] = []
    for key in list(wanted):
        loc = facts["at"].get(key)
        if loc and loc["file"] != doc.display:
            elsewhere.append(f"{key} is set in {loc['file']}:{loc['line']}, which overrides {doc.display}: edit it there")
            del wanted[key]
    if not wanted and (facts["declared"] or profile in ("release", "dev", "bench", "test")):
        return FixResult(manifest, doc.display, doc.text, doc.text, [], elsewhere)

    tdoc = tomlkit.parse(doc.text)
    changes = []
    table, created = _profile_table(tdoc, profile)
    if created:
        changes.append(f"[profile.{profile}] created" + (" (inherits release)" if "inherits" in table else ""))
    for key, value in wanted.items():
        old = table.get(key)
        changes.append(f"{key}: {_show(old) if old is not None else 'unset'} -> {_show(value)}")
    _write(tdoc, table, profile, wanted)
    if created:
        table.add(tomlkit.nl())  # a blank line before whatever table follows
    new = tomlkit.dumps(tdoc)
    if created and new.endswith("\n\n") and not doc.text.endswith("\n\n"):
        new = new[:-1]
    if "\r\n" in doc.text and doc.text.count("\r\n") == doc.text.count("\n"):
        new = new.replace("\r\n", "\n").replace("\n", "\r\n")  # tomlkit writes \n for new lines
    return FixResult(manifest, doc.display, doc.text, new, changes, elsewhere)


def _show(v) -> str:
    """A value of the user's manifest as TOML, escaped (it reaches the terminal); a
    kind `literal` cannot write (a date) as its text, quoted."""
    v = v.unwrap() if hasattr(v, "unwrap") else v
    try:
        return toml.literal(v)
    except TypeError:
        return toml.literal(str(v))


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


def _write(tdoc, table, name: str, wanted: dict) -> None:
    """Set each key in the table's own style: `[profile.x]` lines, dotted keys or inline."""
    import tomlkit
    from tomlkit.items import InlineTable, Table

    if isinstance(table, InlineTable):
        # rebuilt, so the edited table reads `{ a = 1, b = 2 }` like a hand-written one
        text = {k: _as_string(table.item(k)) for k in table}  # untouched values as written
        text.update({k: tomlkit.item(v).as_string() for k, v in wanted.items()})
        pairs = [f"{tomlkit.key(k).as_string()} = {v}" for k, v in text.items()]
        _replace(tdoc["profile"], name, tomlkit.parse(f"x = {{ {', '.join(pairs)} }}")["x"])
        return
    if not isinstance(table, Table) or table.is_super_table():
        for key, value in wanted.items():  # dotted keys (`release.lto = true`): tomlkit's own
            table[key] = value
        return
    for key, value in wanted.items():
        if key in table:
            _replace(table, key, value)
        else:
            _append(table, key, value)


def _replace(table, key: str, value) -> None:
    """A new value on the same line, keeping its indentation and comment."""
    import tomlkit

    old = table.item(key)
    new = tomlkit.item(value)
    for attr in ("indent", "comment_ws", "comment", "trail"):
        setattr(new.trivia, attr, getattr(old.trivia, attr))
    table[key] = new


def _append(table, key: str, value) -> None:
    """A new `key = value` line right after the table's last setting, indented like it.

    Appending at the end of the table would land after trailing blank lines and the
    comment that introduces the next table.
    """
    import tomlkit
    from tomlkit.items import Comment, Table

    body = table.value.body
    last = next((i for i in range(len(body) - 1, -1, -1)
                 if body[i][0] is not None and not isinstance(body[i][1], Table)), None)
    item = tomlkit.item(value)
    if last is not None:
        item.trivia.indent = table.item(body[last][0].key).trivia.indent
        # `_insert_at`, the one insertion tomlkit has kept (0.15.3 dropped `_insert_after`);
        # it refuses the end of the body, where `add` appends
        if last + 1 < len(body):
            table.value._insert_at(last + 1, key, item)
        else:
            prev = body[last][1]
            if "\n" not in prev.trivia.trail:
                prev.trivia.trail += "\n"
            table.add(key, item)
        return
    # no settings yet: after the comments right below the header, before any blank line
    idx = next((i for i, (k, v) in enumerate(body) if k is not None or not isinstance(v, Comment)), None)
    if idx is None:
        table.add(key, item)
    else:
        table.value._insert_at(idx, key, item)


def apply_fix(result: FixResult) -> None:
    from auditor.io import atomic_write

    if result.new != result.old:
        atomic_write(result.manifest, result.new)
