"""A bounds-checked cursor over module bytes.

Every read checks the end first, so a bogus length or count fails with the byte offset
where it was read instead of allocating or slicing past the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from auditor.errors import AuditorError


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the duration (also as a decorator), back on after
    if it was on. Reading a big module allocates 10^5-10^6 container objects (functions,
    edge lists, refs) and almost no cycles; each allocation burst made the collector walk
    the whole young heap again and again: a third of `inspect`'s CPU on a 45 MB module."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def uleb_at(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of an unsigned LEB128 at `pos` that a caller has already
    bounded (a token the validating regex matched, a DIE inside its unit): no checks, the
    hot loops' reader. Reader.uleb is the checking one."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


class MalformedModule(AuditorError):
    """The module is not valid wasm binary format; `offset` is where reading failed."""

    def __init__(self, what: str, offset: int, where: str | None = None):
        super().__init__(what, where)
        self.offset = offset

    def line(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}byte {self.offset} (0x{self.offset:x}): {self.what}"


class Reader:
    __slots__ = ("data", "end", "file", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, file: str | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.file = file

    def fail(self, what: str, offset: int | None = None) -> MalformedModule:
        return MalformedModule(what, self.pos if offset is None else offset, self.file)

    def sub(self, size: int) -> Reader:
        """A reader over the next `size` bytes; this reader moves past them."""
        if size > self.end - self.pos:
            raise self.fail(f"length {size} runs past the end ({self.end - self.pos} bytes left)")
        r = Reader(self.data, self.pos, self.pos + size, self.file)
        self.pos += size
        return r

    @property
    def left(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def u8(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def raw(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise self.fail(f"unexpected end: need {n} bytes, {self.end - self.pos} left")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(b)

    def skip(self, n: int) -> None:
        if n > self.end - self.pos:
            raise self.fail(f"unexpected end: need {n} bytes, {self.end - self.pos} left")
        self.pos += n

    def uleb(self, bits: int = 32) -> int:
        start = self.pos
        result = shift = 0
        data, end = self.data, self.end
        max_bytes = (bits + 6) // 7
        for i in range(max_bytes):
            if self.pos >= end:
                raise self.fail("unexpected end inside a LEB128 integer", start)
            b = data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if i == max_bytes - 1 and b >> (bits - 7 * i):
                    raise self.fail(f"LEB128 u{bits} has unused bits set", start)
                return result
            shift += 7
        raise self.fail(f"LEB128 u{bits} longer than {max_bytes} bytes", start)

    def u32(self) -> int:
        # Fast path: one byte, by far the most common.
        if self.pos < self.end:
            b = self.data[self.pos]
            if b < 0x80:
                self.pos += 1
                return b
        return self.uleb(32)

    def sleb(self, bits: int = 32) -> int:
        start = self.pos
        result = shift = 0
        max_bytes = (bits + 6) // 7
        for i in range(max_bytes):
            if self.pos >= self.end:
                raise self.fail("unexpected end inside a LEB128 integer", start)
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if i == max_bytes - 1:
                    # The unused high bits of the last byte must all equal the sign bit.
                    used = bits - 7 * i  # bits this byte contributes (incl. sign)
                    if used < 7 and b >> (used - 1) not in (0, 0x7F >> (used - 1)):
                        raise self.fail(f"LEB128 s{bits} has unused bits set", start)
                if b & 0x40:
                    result -= 1 << shift
                return result
        raise self.fail(f"LEB128 s{bits} longer than {max_bytes} bytes", start)

    def count(self, min_item_bytes: int = 1, what: str = "items") -> int:
        """A vector length; refuses one larger than the bytes left could hold."""
        start = self.pos
        n = self.u32()
        if n * min_item_bytes > self.end - self.pos:
            raise self.fail(f"{what} count {n} larger than the {self.end - self.pos} bytes left", start)
        return n

    def name(self, what: str = "name") -> str:
        start = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise self.fail(f"{what} length {n} runs past the end ({self.end - self.pos} bytes left)", start)
        b = self.data[self.pos : self.pos + n]
        try:
            s = bytes(b).decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"{what} is not valid UTF-8", self.pos + e.start) from None
        self.pos += n
        return s
