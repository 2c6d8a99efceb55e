"""Untrusted JSON within bounds: how deep it nests, how large one array item is, what is storable.

Decoders recurse once per level, so JSON nested a few hundred levels deep ends in a
``RecursionError`` instead of a value; and a file decoded whole costs many times its size in
memory. These functions look at the bytes only (strings skipped, brackets counted) so that no
decoder ever sees more than ``MAX_JSON_DEPTH`` levels, and a JSON array can be read one item at
a time, each item at most a given number of bytes, from a file of any size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import IO

from distribution.errors import FieldError, InvalidInputError

__all__ = ["MAX_JSON_DEPTH", "ItemRefused", "iter_array_items", "storable", "too_deep_member"]

#: Arrays and objects inside one another: no request body or imported row may nest deeper.
MAX_JSON_DEPTH = 64
_READ_BYTES = 64 * 1024
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS_OR_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# +1 for an opening bracket, -1 for a closing one, indexed by byte.
_STEP = [1 if b in b"[{" else -1 for b in range(256)]
# Outside strings: a whole string (skipped in one step), a string that goes on in the next
# block, what opens or closes an array or an object, or what ends an item.
_ITEM_SYNTAX = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}",]')
_NESTED_SYNTAX = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}"]')
_STRING_SYNTAX = re.compile(rb'["\\]')
_SPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def _depth(body: bytes) -> int:
    """The deepest nesting of ``body``; brackets inside strings do not count."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep_member(body: bytes) -> str | None:
    """Where ``body`` nests deeper than MAX_JSON_DEPTH: its top-level member, or ``body``.

    None when it does not. Counting brackets costs far less than decoding, and a body with
    fewer brackets than the limit is passed without looking further.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH or _depth(body) <= MAX_JSON_DEPTH:
        return None
    depth, key = 0, b""
    for token in _BRACKETS_OR_STRING.finditer(body):
        mark = token[0]
        if mark[0] == ord('"'):
            # In the top-level object the last string before a bracket opens is its member's name.
            key = mark if depth == 1 else key
        elif mark in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                top_object = body.lstrip(_BOM + _SPACE).startswith(b"{")
                return key[1:-1].decode(errors="replace") if top_object and key else "body"
        else:
            depth -= 1
    return "body"


@dataclass(frozen=True, slots=True)
class ItemRefused:
    """An array item that was not decoded, and why (it is too large, or nests too deeply)."""

    reason: str


def iter_array_items(file: IO[bytes], max_item_bytes: int) -> Iterator[bytes | ItemRefused]:
    """The items of the JSON array in ``file``, each as its own JSON text, read a block at a time.

    Memory holds one block and one item: an item longer than ``max_item_bytes``, or nested
    deeper than MAX_JSON_DEPTH, is skipped to its end without keeping its bytes and comes out as
    :class:`ItemRefused`. An item's own syntax is left to its decoder; what separates the items
    must be valid.

    Raises:
        InvalidInputError: ``file`` is not a JSON array (``field`` is ``file``).
    """
    scan = _ArrayScan(max_item_bytes)
    while block := file.read(_READ_BYTES):
        yield from scan.feed(block)
    scan.finish()


def _not_an_array(reason: str) -> InvalidInputError:
    return InvalidInputError([FieldError("file", reason)])


class _ArrayScan:
    """The state of reading one array, fed block by block."""

    def __init__(self, max_item_bytes: int) -> None:
        self.max_item_bytes = max_item_bytes
        self.opened = self.closed = False
        self.after_comma = False
        self.depth = 0
        self.deepest = 0
        self.in_string = self.escaped = False
        # The current item's bytes from earlier blocks, and their length (counted on after the
        # item is known to be too large, when the bytes are no longer kept).
        self.parts: list[bytes] = []
        self.size = 0

    def feed(self, block: bytes) -> Iterator[bytes | ItemRefused]:
        position = 0
        if not self.opened:
            text = block.removeprefix(_BOM).lstrip(_SPACE)
            if not text:
                return
            if text[0] != ord("["):
                raise _not_an_array("must be a JSON array")
            self.opened = True
            position = len(block) - len(text) + 1
        if self.closed:
            if block[position:].strip(_SPACE):
                raise _not_an_array("is not valid JSON (content after the array)")
            return
        start = position
        end = len(block)
        while position < end:
            if self.escaped:
                position += 1
                self.escaped = False
            elif self.in_string:
                found = _STRING_SYNTAX.search(block, position)
                if found is None:
                    position = end
                elif found[0] == b'"':
                    self.in_string = False
                    position = found.end()
                else:
                    position = found.end()
                    self.escaped = True
            else:
                syntax = _ITEM_SYNTAX if self.depth == 0 else _NESTED_SYNTAX
                found = syntax.search(block, position)
                if found is None:
                    position = end
                    continue
                mark = found[0]
                position = found.end()
                if len(mark) > 1:
                    pass  # a whole string
                elif mark == b'"':
                    self.in_string = True
                elif mark in b"[{":
                    self.depth += 1
                    self.deepest = max(self.deepest, self.depth)
                elif self.depth > 0:
                    self.depth -= 1
                elif mark == b"}":
                    raise _not_an_array("is not valid JSON (a '}' closes no object)")
                else:
                    item = self._item(block[start : found.start()], last=mark == b"]")
                    if item is not None:
                        yield item
                    start = position
                    if mark == b"]":
                        self.closed = True
                        if block[position:].strip(_SPACE):
                            raise _not_an_array("is not valid JSON (content after the array)")
                        return
        self._keep(block[start:end])

    def _keep(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size <= self.max_item_bytes:
            self.parts.append(piece)
        else:
            self.parts.clear()

    def _item(self, piece: bytes, *, last: bool) -> bytes | ItemRefused | None:
        self._keep(piece)
        text = b"".join(self.parts).strip(_SPACE)
        size, deepest = self.size, self.deepest
        self.parts, self.size, self.deepest = [], 0, 0
        after_comma, self.after_comma = self.after_comma, not last
        if size > self.max_item_bytes:
            return ItemRefused(f"is larger than {self.max_item_bytes:,} bytes")
        if not text:
            if last and not after_comma:
                return None  # "[]", or the end of an array
            raise _not_an_array("is not valid JSON (an empty item between commas)")
        if deepest > MAX_JSON_DEPTH:
            return ItemRefused(f"is nested deeper than {MAX_JSON_DEPTH} levels")
        return text

    def finish(self) -> None:
        if not self.closed:
            raise _not_an_array(
                "is empty" if not self.opened else "is not valid JSON (the array is not closed)"
            )


def storable(value: object) -> bool:
    """Whether JSON columns hold the value faithfully on every database.

    Neither JSON nor PostgreSQL text can hold NaN, infinities or NUL characters; SQLite would
    store JSON it cannot read back.
    """
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(storable(v) for v in value)
    return True
