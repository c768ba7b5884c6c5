"""The module IR: one exact reading of a .wasm file that every analysis works from.

Offsets are byte offsets in the file; sizes are exact byte counts, so analyses never need
to re-read the binary except through `Module.data` for lazy instruction scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field

PAGE_SIZE = 65536

SECTION_KINDS = {
    0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
    6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
    12: "datacount", 13: "tag",
}

EXTERNAL_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}

# Import modules that mark a wasm-bindgen module (before and after the CLI ran) and a WASI one.
WASM_BINDGEN_MODULES = ("__wbindgen_placeholder__", "wbg", "__wbindgen_externref_xform__")
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")


@dataclass
class Section:
    id: int
    name: str  # kind for standard sections, the custom name for custom ones
    offset: int  # of the section id byte
    size: int  # id byte + size LEB + payload
    payload_offset: int
    payload_size: int

    @property
    def custom(self) -> bool:
        return self.id == 0


@dataclass
class FuncType:
    params: tuple[str, ...]
    results: tuple[str, ...]

    def signature(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass
class Limits:
    initial: int
    maximum: int | None
    shared: bool = False
    memory64: bool = False
    page_size: int = PAGE_SIZE  # custom-page-sizes proposal


@dataclass
class Import:
    module: str
    field: str
    kind: str  # func | table | memory | global | tag
    index: int  # index in its own index space
    type_index: int | None = None  # func and tag
    limits: Limits | None = None  # table and memory
    valtype: str | None = None  # global (or table element type)
    mutable: bool = False


@dataclass
class Export:
    name: str
    kind: str
    index: int


@dataclass
class Memory:
    index: int
    limits: Limits
    imported: bool = False
    module: str | None = None
    field: str | None = None
    exports: list[str] = _field(default_factory=list)


@dataclass
class Table:
    index: int
    reftype: str
    limits: Limits
    imported: bool = False


@dataclass
class Global:
    index: int
    valtype: str
    mutable: bool
    init: int | None = None  # value of a constant integer initialiser
    init_global: int | None = None  # `global.get N` initialiser
    imported: bool = False
    name: str | None = None


@dataclass
class DataSegment:
    index: int
    mode: str  # active | passive
    memory: int | None
    offset: int | None  # constant address of an active segment when known
    size: int
    data_offset: int  # file offset of the first data byte


@dataclass
class ElementSegment:
    index: int
    mode: str  # active | passive | declarative
    table: int | None
    count: int
    func_indices: list[int] = _field(default_factory=list)


@dataclass(slots=True)  # 10^5 of them in a big module: 88 bytes each instead of ~350 with a __dict__
class Function:
    index: int  # in the function index space (imports first)
    type_index: int
    body_offset: int  # file offset of the body's size LEB
    code_offset: int  # file offset just past the size LEB (locals start here)
    body_size: int  # bytes after the size LEB, as wasm-objdump prints it
    name: str | None = None

    @property
    def end(self) -> int:
        return self.code_offset + self.body_size


@dataclass
class Module:
    file: str
    data: bytes
    sections: list[Section] = _field(default_factory=list)
    types: list[FuncType | None] = _field(default_factory=list)  # None: a GC struct/array type
    imports: list[Import] = _field(default_factory=list)
    functions: list[Function] = _field(default_factory=list)  # defined bodies only
    func_type_indices: list[int] = _field(default_factory=list)  # whole func index space
    tables: list[Table] = _field(default_factory=list)
    memories: list[Memory] = _field(default_factory=list)
    globals: list[Global] = _field(default_factory=list)
    tags: list[int] = _field(default_factory=list)  # type index per tag
    exports: list[Export] = _field(default_factory=list)
    start: int | None = None
    elements: list[ElementSegment] = _field(default_factory=list)
    data_segments: list[DataSegment] = _field(default_factory=list)
    data_count: int | None = None
    module_name: str | None = None
    function_names: dict[int, str] = _field(default_factory=dict)
    global_names: dict[int, str] = _field(default_factory=dict)
    data_names: dict[int, str] = _field(default_factory=dict)
    producers: dict[str, list[tuple[str, str]]] = _field(default_factory=dict)
    target_features: list[tuple[str, str]] = _field(default_factory=list)  # (prefix, name)
    warnings: list[str] = _field(default_factory=list)  # non-fatal: malformed custom sections
    # Structures derived from this module once and shared by every analysis (the item
    # graph: auditor.wasm.graph.item_graph), so no analysis re-reads the bytes for them.
    derived: dict[str, object] = _field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def num_imported_funcs(self) -> int:
        return len(self.func_type_indices) - len(self.functions)

    def func_type(self, func_index: int) -> FuncType | None:
        if 0 <= func_index < len(self.func_type_indices):
            t = self.func_type_indices[func_index]
            if 0 <= t < len(self.types):
                return self.types[t]
        return None

    def func_name(self, func_index: int) -> str | None:
        return self.function_names.get(func_index)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)
