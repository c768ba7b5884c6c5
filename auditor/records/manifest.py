"""`auditor.manifest/1`: the manifest stage's facts the manifest rules read (README ("The
check language"), "Manifest facts"). Locations (`file`, `line`, `column`) sit beside the
values they locate, so a finding can point at the exact key."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

SCHEMA = "auditor.manifest/1"


class LocationRecord(TypedDict, total=False):
    file: str
    line: int
    column: int


class LinkFlagRecord(TypedDict, total=False):
    """`max_memory` / `stack_size`: a linker setting and where it is written."""

    set: bool
    value: int | None
    file: str
    line: int
    column: int
    via: str  # .cargo/config.toml, build.rs, ...


class ProfileFactsRecord(TypedDict):
    name: str
    declared: bool
    inherits: list[str]
    file: NotRequired[str]
    line: NotRequired[int]
    column: NotRequired[int]
    settings: dict[str, Any]  # as written
    effective: dict[str, Any]  # with inherits and cargo's defaults
    at: dict[str, LocationRecord]  # key -> where its effective value is written
    show: dict[str, str]
    checks_on: str
    unstripped: str


class DependencyRecord(TypedDict):
    name: str
    package: str
    kind: str  # dependencies | dev-dependencies | build-dependencies
    target: str | None
    member: str
    requirement: str
    file: NotRequired[str]
    line: NotRequired[int]
    column: NotRequired[int]


class PackageRecord(TypedDict):
    name: str
    manifest: str
    is_root: bool
    has_lib: bool
    crate_types: list[str]
    cdylib: bool
    build_script: str | None
    dependencies: list[DependencyRecord]
    max_memory: LinkFlagRecord
    stack_size: LinkFlagRecord
    anchor: LocationRecord


class RootRecord(LocationRecord):
    manifest: str


class ManifestRecord(TypedDict):
    schema: str
    root: RootRecord
    target: str
    is_workspace: bool
    profile: ProfileFactsRecord
    packages: list[PackageRecord]
    dependencies: list[DependencyRecord]
    member_profiles: list[dict[str, Any]]  # name, package, file, line, column
