"""The renderer registry: which function writes which result kind in which format.

A *result* is any object with a `KIND` ("scan", "inspect", ...) and a `to_json()`
returning its documented record. A *renderer* is a function `render(result, *, color)`
returning the text (the `Renderer` Protocol, one per kind and format). Registrations are
explicit, one line each, in `auditor/report/formats.py`:

    REGISTRY.kind("scan", findings=True)                          # a result kind
    REGISTRY.add("text", "scan", Lazy("auditor.report.text_scan"))  # kind-specific
    REGISTRY.add("sarif", ANY, Lazy("auditor.report.fmt_sarif"), findings=True)  # any kind with findings

A kind-specific renderer wins over a generic (ANY) one. A generic renderer registered
with `findings=True` serves only kinds declared with `findings=True` (SARIF, JUnit,
GitHub annotations need them). `formats(kind)` is what a command offers as `--format`.
`Lazy` names the renderer's module and imports it at the first render, so `auditor lint`
never loads the scan's renderers (or the stages they know). `REGISTRY.filter(fmt, ...)`
puts every renderer of a format behind one output filter (text, markdown and github:
module text made visible, `auditor/report/escape.py`), so a new renderer cannot forget it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from auditor.errors import AuditorError

if TYPE_CHECKING:
    from auditor.findings import Check, Finding

ANY = "*"

R_contra = TypeVar("R_contra", contravariant=True)


class Result(Protocol):
    """What every rendered result offers (its other attributes are its kind's business)."""

    @property
    def KIND(self) -> str: ...  # noqa: N802  (a class constant on most results)

    def to_json(self) -> Any: ...


class FindingsResult(Result, Protocol):
    """A result of a kind declared with `findings=True`: what the generic renderers of
    such kinds (SARIF, JUnit, GitHub annotations, the markdown summary) read."""

    findings: list[Finding]
    checks: list[Check]


class Renderer(Protocol[R_contra]):
    """One kind in one format: `Renderer[ScanResult]` is a text (or markdown, ...) writer of scans."""

    def __call__(self, result: R_contra, *, color: bool = False) -> str: ...


@dataclass(frozen=True)
class Lazy:
    """A renderer named by module (and function, default `render`), imported on first use."""

    module: str
    name: str = "render"

    def __call__(self, result: Any, *, color: bool = False) -> str:
        fn: Callable[..., str] = getattr(import_module(self.module), self.name)
        return fn(result, color=color)


@dataclass
class _Entry:
    renderer: Renderer[Any]
    findings: bool  # generic entries: only for kinds that carry findings


@dataclass(frozen=True)
class OutputFilter:
    """What a format's whole output goes through (text for terminals and markdown: module
    names are untrusted). `needs(text)`: the output holds something to escape;
    `escape(text)`: the safe form."""

    needs: Callable[[str], bool]
    escape: Callable[[str], str]


@dataclass
class Registry:
    kinds: dict[str, bool] = field(default_factory=dict)  # kind -> carries findings and checks
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)  # (format, kind or ANY)
    order: list[str] = field(default_factory=list)  # formats in the order --format lists them
    filters: dict[str, OutputFilter] = field(default_factory=dict)  # format -> its output filter

    def filter(self, fmt: str, output_filter: OutputFilter) -> None:
        """Every renderer of `fmt` (any kind, registered before or after) is filtered."""
        self.filters[fmt] = output_filter

    def kind(self, name: str, *, findings: bool) -> None:
        """Declare a result kind; `findings`: its results have `findings` and `checks`."""
        self.kinds[name] = findings

    def add(self, fmt: str, kind: str, renderer: Renderer[Any], *, findings: bool = False) -> None:
        """Register `renderer` for `kind` (or ANY kind) in format `fmt`."""
        if kind != ANY and kind not in self.kinds:
            raise ValueError(f"register the result kind {kind!r} before its renderers")
        if (fmt, kind) in self.entries:
            raise ValueError(f"a {fmt} renderer for {kind} is already registered")
        self.entries[(fmt, kind)] = _Entry(renderer, findings)
        if fmt not in self.order:
            self.order.append(fmt)

    def lookup(self, fmt: str, kind: str) -> Renderer[Any] | None:
        entry = self.entries.get((fmt, kind))
        if entry is None:
            generic = self.entries.get((fmt, ANY))
            if generic is not None and (not generic.findings or self.kinds.get(kind, False)):
                entry = generic
        return entry.renderer if entry is not None else None

    def formats(self, kind: str) -> list[str]:
        """Formats a result of `kind` can be written in, in registration order."""
        return [f for f in self.order if self.lookup(f, kind) is not None]

    def render(self, result: Result, fmt: str, *, color: bool = False) -> str:
        renderer = self.lookup(fmt, result.KIND)
        if renderer is None:
            if fmt not in self.order:
                raise AuditorError(f"unknown output format {fmt!r}")
            raise AuditorError(f"format {fmt!r} is not available for {result.KIND} reports")
        flt = self.filters.get(fmt)
        if flt is None:
            return renderer(result, color=color)
        # Filtered: rendered without colour first, so a control character in the output
        # can only have come from the data. None: the coloured rendering (its escapes are
        # the renderer's own). Some: the plain rendering escaped, colour given up.
        plain = renderer(result, color=False)
        if flt.needs(plain):
            return flt.escape(plain)
        return renderer(result, color=True) if color else plain
