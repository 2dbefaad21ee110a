"""``.json`` files: one record, or an array of records decoded one item at a time."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from gateway.local.sources import SourceRecord

CHUNK_CHARS = 1 << 16
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


class _JsonProblem(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _JsonProblem(f"{name} is not allowed in JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


class _JsonStream:
    """JSON values one at a time from a text file, through a buffer of a chunk or so."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # line and column of buffer[0], for messages
        self._column = 1

    def _more(self) -> bool:
        """Drop what was consumed and read on; a long value doubles the read size."""
        if self.eof:
            return False
        chunk = self._file.read(max(CHUNK_CHARS, len(self.buffer) - self.pos))
        if not chunk:
            self.eof = True
            return False
        done = self.buffer[:self.pos]
        newlines = done.count("\n")
        if newlines:
            self._line += newlines
            self._column = len(done) - done.rfind("\n")
        else:
            self._column += len(done)
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0
        return True

    def where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        head = self.buffer[:pos]
        newlines = head.count("\n")
        if newlines:
            column = pos - head.rfind("\n")
            return f"line {self._line + newlines}, column {column}"
        return f"line {self._line}, column {self._column + pos}"

    def peek(self) -> str | None:
        """The next character that is not whitespace (not consumed), or None at the end."""
        while True:
            self.pos = _JSON_SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return None

    def value(self) -> Any:
        """The next JSON value; ``_JsonProblem`` when there is none."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                # Truncated by the chunk (error at the buffer's end, or a string running to it),
                # or really invalid.
                truncated = (error.pos >= len(self.buffer) - 16
                             or error.msg.startswith("Unterminated string"))
                if truncated and self._more():
                    continue
                raise _JsonProblem(f"invalid JSON at {self.where(error.pos)}: {error.msg}"
                                   ) from None
            if end == len(self.buffer) and self._more():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return value


def _read_json(path: Path) -> Iterator[SourceRecord]:
    index: int | None = None
    with path.open(encoding="utf-8-sig", newline="") as file:
        stream = _JsonStream(file)
        try:
            first = stream.peek()
            if first is None:
                yield SourceRecord(str(path), None, "the file is empty: expected a record or an "
                                                    "array of records")
                return
            if first != "[":
                value = stream.value()
                if stream.peek() is not None:
                    raise _JsonProblem(f"invalid JSON at {stream.where()}: more after the record "
                                       f"(several records go in an array, or in NDJSON)")
                yield SourceRecord(str(path), value)
                return
            stream.pos += 1
            index = 0
            if stream.peek() == "]":
                stream.pos += 1
            else:
                while True:
                    value = stream.value()
                    yield SourceRecord(f"{path}[{index}]", value)
                    index += 1
                    after = stream.peek()
                    stream.pos += 1
                    if after == "]":
                        break
                    if after is None:
                        raise _JsonProblem("the file ends inside the array (no closing ']')")
                    if after != ",":
                        raise _JsonProblem(f"invalid JSON at {stream.where(stream.pos - 1)}: "
                                           f"expected ',' or ']' after item {index - 1}")
            if stream.peek() is not None:
                raise _JsonProblem(f"invalid JSON at {stream.where()}: more after the array")
        except _JsonProblem as problem:
            where = str(path) if index is None else f"{path}[{index}]"
            yield SourceRecord(where, None, _file_stops(str(problem), index))
        except UnicodeDecodeError:
            where = str(path) if index is None else f"{path}[{index}]"
            yield SourceRecord(where, None, _file_stops("the file is not UTF-8 text", index))


def _file_stops(message: str, index: int | None) -> str:
    if index is None:
        return message
    return f"{message}; the rest of the file was not read"
