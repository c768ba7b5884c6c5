"""JSON: the result's own documented object, stable key order, 2-space indent."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import compress
from json.encoder import encode_basestring  # the C function when the _json accelerator is there
from operator import itemgetter
from typing import Any

_INF = float("inf")


_BATCH = 4096  # pieces of a large container joined at a time
_SMALL = 64  # a value with up to this many members in all is one string


def render(result, *, color: bool = False) -> str:
    chunks: list[str] = []
    write(result, chunks.append)
    return "".join(chunks)


def write(result, out: Callable[[str], Any]) -> None:
    """render(result), handed to `out` a piece at a time (stdout: no 18 MB string and no
    18 MB of its UTF-8 for a 45 MB module's record)."""
    _write(result.to_json(), "\n", {}, out)
    out("\n")


def dumps(obj: Any) -> str:
    """`json.dumps(obj, indent=2, ensure_ascii=False)`, byte for byte, faster.

    The standard library's C encoder is used only without `indent`; with it, every value
    goes through a chain of Python generators (~1M pieces and 0.36 s CPU for a 45 MB
    module's 18 MB inspect record, issue 16). Here each container is one join of its
    members, scalars are written inline, and keys are encoded once per distinct key.
    Same order of type tests as the encoder (str, None, True, False, int, float, list or
    tuple, dict), same key conversions, same float spelling (NaN, Infinity); anything else
    raises the TypeError json.dumps raises. tests/test_inspect_fastpaths.py compares the
    two on every record kind."""
    chunks: list[str] = []
    _write(obj, "\n", {}, chunks.append)
    return "".join(chunks)


def _write(o: Any, nl: str, keys: dict, write) -> None:
    """`o` encoded, written in pieces: a large container's members are joined a batch at
    a time, never all at once (a 45 MB module's record is 18 MB of text in ~35,000
    function entries: one string per container kept 17 MB more at the peak)."""
    if not isinstance(o, (list, tuple, dict)) or not _large(o):
        write(_value(o, nl, keys))
        return
    if not isinstance(o, dict):
        _write_list(o, nl, keys, write)
        return
    inner = nl + "  "
    sep = "," + inner
    write("{")
    batch: list[str] = []
    for i, (k, v) in enumerate(o.items()):
        batch.append(sep if i else inner)
        ek = keys.get(k) if type(k) is str else None
        batch.append(ek if ek is not None else _key(k) + ": ")
        # a dict's few members with what they hold
        _put(v, isinstance(v, (list, tuple, dict)) and _large(v), inner, keys, batch, write)
    batch.append(nl + "}")
    write("".join(batch))


def _put(v: Any, big: bool, inner: str, keys: dict, batch: list[str], write) -> None:
    """One member of a large container: a `big` one written on its own (the batch so far
    first), any other added to the batch, which is written once it holds _BATCH pieces."""
    if big:
        write("".join(batch))
        batch.clear()
        _write(v, inner, keys, write)
    else:
        batch.append(_member(v, inner, keys))
    if len(batch) >= _BATCH:
        write("".join(batch))
        batch.clear()


def _write_list(o: list | tuple, nl: str, keys: dict, write) -> None:
    """A large list, _ROWS members at a time: a run of scalars or of dicts of one shape
    (35,823 function entries) is encoded by `_rows`, anything else member by member."""
    inner = nl + "  "
    sep = "," + inner
    write("[")
    for at in range(0, len(o), _ROWS):
        chunk = o[at : at + _ROWS]
        texts = _rows(chunk, inner, keys)
        if texts is not None:
            write((sep if at else inner) + texts)
            continue
        batch: list[str] = []
        for i, v in enumerate(chunk, at):
            batch.append(sep if i else inner)
            # a list's members by their own size only
            _put(v, isinstance(v, (list, tuple, dict)) and len(v) > _SMALL, inner, keys, batch, write)
        write("".join(batch))
    write(nl + "]")


_SCALARS = frozenset({str, int, float, bool, type(None)})
_ROWS = 1024  # members of a large list encoded at a time
_TEMPLATE = object()  # in `keys`: (_TEMPLATE, indent, *shape) -> a dict shape's `%` template
# The standard library's C encoder (used without `indent`): "\0" between the members of
# a flat list, which never occurs in its output otherwise (control characters are escaped).
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_FLAT = None if _C_MAKE_ENCODER is None else _C_MAKE_ENCODER(
    None, None, encode_basestring, None, ": ", "\0", False, False, True)
_PY_FLAT = json.JSONEncoder(ensure_ascii=False, separators=("\0", ": ")).encode


def _flat(o: list) -> str:
    """json.dumps(o, ensure_ascii=False, separators=("\\0", ": ")), without the set-up of
    an encoder per call."""
    if _C_FLAT is not None:
        return "".join(_C_FLAT(o, 0))
    return _PY_FLAT(o)


def _rows(chunk: list | tuple, nl: str, keys: dict) -> str | None:
    """The members of `chunk` (at the indent `nl`), joined, when they are all scalars or
    all dicts of one shape with string keys; else None. The scalars (a whole column of
    the dicts at a time) go through the C encoder in one call; each dict is one `%`
    formatting of its shape's template with its members' texts; a column that holds
    containers has them encoded one by one, as `_value` does (an empty one is "[]"/"{}"
    either way)."""
    sep = "," + nl
    types = set(map(type, chunk))
    if types <= _SCALARS:
        return _flat(list(chunk))[1:-1].replace("\0", sep)
    if types != {dict} or len(set(map(len, chunk))) != 1 or len(chunk[0]) > _SMALL:
        return None
    shapes = set(map(tuple, chunk))
    if len(shapes) != 1:
        return None
    (shape,) = shapes
    if not shape:
        return sep.join(["{}"] * len(chunk))
    if not all(type(k) is str for k in shape):
        return None
    template = keys.get((_TEMPLATE, nl, *shape))
    if template is None:
        inner = nl + "  "
        pieces = [("{" + inner if i == 0 else "," + inner) + encode_basestring(k) + ": " for i, k in enumerate(shape)]
        template = keys[(_TEMPLATE, nl, *shape)] = "".join(p.replace("%", "%%") + "%s" for p in pieces) + nl + "}"
    inner = nl + "  "
    columns = []
    for k in shape:
        column = list(map(itemgetter(k), chunk))
        kinds = set(map(type, column))
        if kinds <= _SCALARS:
            columns.append(_flat(column)[1:-1].split("\0"))
        elif kinds <= {list, tuple} or kinds == {dict}:  # e.g. export names, mostly none
            texts = ["{}" if dict in kinds else "[]"] * len(column)
            for j in compress(range(len(column)), column):  # the non-empty ones
                texts[j] = _value(column[j], inner, keys)
            columns.append(texts)
        else:
            columns.append([_member(v, inner, keys) for v in column])
    return sep.join(map(template.__mod__, zip(*columns)))


def _large(o: Any) -> bool:
    """Whether `o` holds more than _SMALL members in all (a look at no more than that)."""
    return _room(o, _SMALL) < 0


def _room(o: Any, budget: int) -> int:
    budget -= len(o)
    if budget < 0:
        return -1
    for x in (o.values() if isinstance(o, dict) else o):
        if isinstance(x, (list, tuple, dict)) and x:
            budget = _room(x, budget)
            if budget < 0:
                return -1
    return budget


def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _INF:
        return "Infinity"
    if o == -_INF:
        return "-Infinity"
    return float.__repr__(o)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return encode_basestring(k)
    if isinstance(k, float):
        return encode_basestring(_float(k))
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return encode_basestring(int.__repr__(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def _value(o: Any, nl: str, keys: dict) -> str:
    """`o` encoded; `nl` is a newline and the indent of the line `o` starts on."""
    if isinstance(o, str):
        return encode_basestring(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    inner = nl + "  "
    sep = "," + inner
    if isinstance(o, (list, tuple)):
        if not o:
            return "[]"
        return "[" + inner + sep.join([_member(v, inner, keys) for v in o]) + nl + "]"
    if isinstance(o, dict):
        if not o:
            return "{}"
        # Dicts of one shape (every function entry) share their key texts: the pieces
        # between the values, made once per (keys, indent).
        shape = (nl, *o)
        pieces = keys.get(shape)
        if pieces is None:
            if not all(type(k) is str for k in o):
                pieces = [("{" + inner if i == 0 else sep) + _key(k) + ": " for i, k in enumerate(o)]
            else:
                pieces = keys[shape] = [("{" + inner if i == 0 else sep) + encode_basestring(k) + ": "
                                        for i, k in enumerate(o)]
        parts = []
        for piece, v in zip(pieces, o.values()):
            parts.append(piece)
            t = type(v)  # _member, inline: a call less per value
            if t is str:
                parts.append(encode_basestring(v))
            elif t is int:
                parts.append(int.__repr__(v))
            elif v is None:
                parts.append("null")
            else:
                parts.append(_value(v, inner, keys))
        parts.append(nl + "}")
        return "".join(parts)
    return json.dumps(o)  # raises TypeError: "Object of type X is not JSON serializable"


def _member(v: Any, inner: str, keys: dict) -> str:
    t = type(v)
    if t is str:
        return encode_basestring(v)
    if t is int:
        return int.__repr__(v)
    if v is None:
        return "null"
    return _value(v, inner, keys)
