"""Join Parquet files of one schema into one file without decoding them: their row groups are copied as they
are and one footer describes them all.

A Parquet file is ``PAR1``, the column chunks of its row groups, the footer (a Thrift ``FileMetaData`` in the
compact protocol), the footer's length and ``PAR1``. Joining copies the second file's chunks after the first's,
moves every file offset in the second footer's row groups by the distance they moved, and writes the first
footer with all row groups and the summed row count. The footer is decoded into a generic tree of Thrift values
(field numbers, types, values), so unknown fields travel unchanged. Files with page indexes (whose locations are
stored outside the footer) or encryption are refused: DuckDB writes neither.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import Any

from anyport.errors import DataError

MAGIC = b"PAR1"

# compact protocol types
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)

# FileMetaData, RowGroup, ColumnChunk and ColumnMetaData field numbers (parquet.thrift)
FILE_SCHEMA, FILE_NUM_ROWS, FILE_ROW_GROUPS, FILE_ENCRYPTION = 2, 3, 4, 8
GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_ORDINAL = 1, 5, 7
CHUNK_FILE_OFFSET, CHUNK_META, CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX, CHUNK_CRYPTO = 2, 3, 4, 6, 8
META_OFFSETS = (9, 10, 11, 14)  # data_page_offset, index_page_offset, dictionary_page_offset, bloom_filter_offset

Field = list[Any]  # [field id, type, value]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        value = self.data[self.at]
        self.at += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def value(self, kind: int) -> Any:
        if kind in (TRUE, FALSE):  # a bool inside a list or map: one byte
            return self.byte()
        if kind == BYTE:
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind == DOUBLE:
            raw = self.data[self.at : self.at + 8]
            self.at += 8
            return raw
        if kind == BINARY:
            size = self.varint()
            raw = self.data[self.at : self.at + size]
            self.at += size
            return raw
        if kind in (LIST, SET):
            head = self.byte()
            size, element = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return (element, [self.value(element) for _ in range(size)])
        if kind == MAP:
            size = self.varint()
            if not size:
                return (0, 0, [])
            types = self.byte()
            key, value = types >> 4, types & 0x0F
            return (key, value, [(self.value(key), self.value(value)) for _ in range(size)])
        if kind == STRUCT:
            return self.struct()
        raise ValueError(f"unknown Thrift type {kind}")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            head = self.byte()
            kind = head & 0x0F
            if kind == STOP:
                return fields
            delta = head >> 4
            number = last + delta if delta else self.zigzag()
            last = number
            value = None if kind in (TRUE, FALSE) else self.value(kind)
            fields.append([number, kind, value])


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while True:
            if value < 0x80:
                self.out.append(value)
                return
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def value(self, kind: int, value: Any) -> None:
        if kind in (TRUE, FALSE, BYTE):
            self.out.append(value)
        elif kind in (I16, I32, I64):
            self.zigzag(value)
        elif kind == DOUBLE:
            self.out += value
        elif kind == BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (LIST, SET):
            element, items = value
            if len(items) < 15:
                self.out.append((len(items) << 4) | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                self.value(element, item)
        elif kind == MAP:
            key, val, items = value
            self.varint(len(items))
            if items:
                self.out.append((key << 4) | val)
                for k, v in items:
                    self.value(key, k)
                    self.value(val, v)
        elif kind == STRUCT:
            self.struct(value)
        else:
            raise ValueError(f"unknown Thrift type {kind}")

    def struct(self, fields: list[Field]) -> None:
        last = 0
        for number, kind, value in fields:
            delta = number - last
            if 0 < delta <= 15:
                self.out.append((delta << 4) | kind)
            else:
                self.out.append(kind)
                self.zigzag(number)
            last = number
            if kind not in (TRUE, FALSE):
                self.value(kind, value)
        self.out.append(STOP)


def _get(fields: list[Field], number: int) -> Field | None:
    return next((f for f in fields if f[0] == number), None)


def _shift(field: Field | None, delta: int) -> None:
    if field is not None and field[1] == I64:
        field[2] += delta


def _move(chunk: list[Field], delta: int) -> None:
    """Move every file offset of a ColumnChunk by ``delta`` bytes."""
    _shift(_get(chunk, CHUNK_FILE_OFFSET), delta)
    column_meta = _get(chunk, CHUNK_META)
    for number in META_OFFSETS if column_meta else ():
        _shift(_get(column_meta[2], number), delta)  # type: ignore[index]


def _footer(handle: Any, size: int, name: str) -> tuple[int, list[Field]]:
    """(where the footer starts, the decoded FileMetaData) of an open Parquet file."""
    if size < 12:
        raise DataError(f"{name} is not a Parquet file (too short)")
    handle.seek(size - 8)
    tail = handle.read(8)
    if tail[4:] != MAGIC:
        raise DataError(f"{name} is not a Parquet file (no PAR1 at the end)")
    length = struct.unpack("<I", tail[:4])[0]
    start = size - 8 - length
    if start < 4:
        raise DataError(f"{name}: its footer length is wrong")
    handle.seek(start)
    try:
        return start, _Reader(handle.read(length)).struct()
    except (IndexError, ValueError) as exc:
        raise DataError(f"{name}: its footer cannot be read ({exc})") from None


def _check(meta: list[Field], name: str) -> None:
    if _get(meta, FILE_ENCRYPTION) is not None:
        raise DataError(f"{name} is encrypted; its row groups cannot be moved")
    groups = _get(meta, FILE_ROW_GROUPS)
    for group in groups[2][1] if groups else []:
        chunks = _get(group, GROUP_COLUMNS)
        for chunk in chunks[2][1] if chunks else []:
            if any(_get(chunk, n) is not None for n in (CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX, CHUNK_CRYPTO)):
                raise DataError(f"{name} has page indexes or encrypted columns; its row groups cannot be moved")


def _copy(source: int, start: int, stop: int, target: int, at: int) -> int:
    """Copy bytes ``start..stop`` of ``source`` to ``target`` at ``at`` (in the kernel where it can); the new end."""
    while start < stop:
        try:
            done = os.copy_file_range(source, target, stop - start, offset_src=start, offset_dst=at)
        except OSError:
            done = 0
        if done <= 0:  # another file system, or no copy_file_range
            block = os.pread(source, min(1 << 24, stop - start), start)
            if not block:
                raise DataError("a Parquet part ended early while it was being joined")
            done = os.pwrite(target, block, at)
        start += done
        at += done
    return at


class CannotJoin(DataError):
    """Parts that cannot be joined as they are (another schema, page indexes, encryption); the first file is put
    back as it was and the parts are kept."""


class ParquetJoin:
    """Joins parts into the first: :meth:`begin`, then the caller copies each part's bytes from byte 4 on at the
    descriptor's position, then :meth:`end` writes the footer for all of them (see
    :func:`anyport.traffic.pieces.run`, which copies a part while it is being written)."""

    skip = len(MAGIC)
    failed: CannotJoin | None = None  # set by anyport.traffic.pieces.run when end() refused

    def begin(self, first: str) -> int:
        """An open descriptor of ``first``, positioned on its footer, which the next part overwrites."""
        with open(first, "rb") as handle:
            self.body_end, self.meta = _footer(handle, os.fstat(handle.fileno()).st_size, first)
            handle.seek(self.body_end)
            self.saved = handle.read()  # the footer, its length and PAR1: put back if the parts cannot be joined
        try:
            _check(self.meta, first)
        except DataError as exc:
            raise CannotJoin(str(exc)) from None
        self.first = first
        target = os.open(first, os.O_RDWR)
        os.lseek(target, self.body_end, os.SEEK_SET)
        return target

    def end(self, target: int, placed: list[tuple[str, int]]) -> None:
        """Write one footer for the first file and every part in ``placed`` (name, where its byte 4 went)."""
        parts = []
        try:
            for name, at in placed:
                with open(name, "rb") as handle:
                    footer_at, meta = _footer(handle, os.fstat(handle.fileno()).st_size, name)
                _check(meta, name)
                if _get(meta, FILE_SCHEMA) != _get(self.meta, FILE_SCHEMA):  # e.g. a column required in one part only
                    raise DataError(f"{name} has another schema than {self.first}")
                parts.append((at, footer_at, meta))
        except DataError as exc:
            os.ftruncate(target, self.body_end)
            os.pwrite(target, self.saved, self.body_end)
            raise CannotJoin(str(exc)) from None
        groups = _get(self.meta, FILE_ROW_GROUPS)
        rows = _get(self.meta, FILE_NUM_ROWS)
        if groups is None or rows is None:
            raise CannotJoin(f"{self.first}: its footer has no row groups")
        end = self.body_end
        for at, footer_at, meta in parts:
            delta = at - len(MAGIC)  # the part's first chunk moved from byte 4 to byte `at`
            part_groups = _get(meta, FILE_ROW_GROUPS)
            for group in part_groups[2][1] if part_groups else []:
                _shift(_get(group, GROUP_FILE_OFFSET), delta)
                ordinal = _get(group, GROUP_ORDINAL)
                if ordinal is not None:
                    ordinal[2] = len(groups[2][1])
                columns = _get(group, GROUP_COLUMNS)
                for chunk in columns[2][1] if columns else []:
                    _move(chunk, delta)
                groups[2][1].append(group)
            part_rows = _get(meta, FILE_NUM_ROWS)
            rows[2] += part_rows[2] if part_rows else 0
            end = at + footer_at - len(MAGIC)  # a part's own footer stays between row groups, unused
        writer = _Writer()
        writer.struct(self.meta)
        tail = bytes(writer.out) + struct.pack("<I", len(writer.out)) + MAGIC
        os.pwrite(target, tail, end)
        os.ftruncate(target, end + len(tail))
        for name, _at in placed:
            os.unlink(name)


def join(first: str, others: Sequence[str]) -> None:
    """Append the row groups of the Parquet files ``others`` to ``first`` and remove ``others``.

    CannotJoin (another schema, page indexes, encryption, a damaged file) leaves every file as it was.
    """
    joiner = ParquetJoin()
    target = joiner.begin(first)
    try:
        placed = []
        for name in others:
            at = os.lseek(target, 0, os.SEEK_CUR)
            with open(name, "rb") as part:
                size = os.fstat(part.fileno()).st_size
                end = _copy(part.fileno(), len(MAGIC), size, target, at)
            os.lseek(target, end, os.SEEK_SET)
            placed.append((name, at))
        joiner.end(target, placed)
    finally:
        os.close(target)


# -- columns side by side ------------------------------------------------------------------------------------

SCHEMA_CHILDREN = 5  # SchemaElement.num_children
FILE_KEY_VALUES, FILE_COLUMN_ORDERS = 5, 7
GROUP_BYTES, GROUP_COMPRESSED = 2, 6


def row_groups(path: str) -> list[int] | None:
    """The row counts of ``path``'s row groups, or None when its columns cannot be reused as they are
    (encrypted, or carrying key-value metadata such as a writer's own schema, which would not describe the
    added columns)."""
    try:
        with open(path, "rb") as handle:
            _start, meta = _footer(handle, os.fstat(handle.fileno()).st_size, path)
    except (OSError, DataError):
        return None
    if _get(meta, FILE_ENCRYPTION) is not None or _get(meta, FILE_KEY_VALUES) is not None:
        return None
    groups = _get(meta, FILE_ROW_GROUPS)
    counts = []
    for group in groups[2][1] if groups else []:
        rows = _get(group, 3)
        if rows is None:
            return None
        counts.append(int(rows[2]))
    return counts


def widen(base: str, extra: str, out: str) -> None:
    """Write ``out``: the columns of ``base`` followed by those of ``extra``, row group by row group.

    ``base``'s bytes are copied as they are (its offsets stay valid, page indexes included); ``extra``'s column
    chunks follow and are moved. Both must have the same row groups (CannotJoin otherwise; ``out`` is not left).
    """
    with open(base, "rb") as first, open(extra, "rb") as second:
        base_end, base_meta = _footer(first, os.fstat(first.fileno()).st_size, base)
        extra_end, extra_meta = _footer(second, os.fstat(second.fileno()).st_size, extra)
        _check(extra_meta, extra)
        base_groups, extra_groups = _get(base_meta, FILE_ROW_GROUPS), _get(extra_meta, FILE_ROW_GROUPS)
        if base_groups is None or extra_groups is None or len(base_groups[2][1]) != len(extra_groups[2][1]):
            raise CannotJoin(f"{base} and {extra} have different row groups")
        delta = base_end - len(MAGIC)  # extra's chunks move from byte 4 to where base's footer was
        for group, more in zip(base_groups[2][1], extra_groups[2][1], strict=True):
            if _get(group, 3) != _get(more, 3):
                raise CannotJoin(f"{base} and {extra} have row groups of different sizes")
            columns, more_columns = _get(group, GROUP_COLUMNS), _get(more, GROUP_COLUMNS)
            if columns is None or more_columns is None:
                raise CannotJoin(f"{base}: a row group without columns")
            for chunk in more_columns[2][1]:
                _move(chunk, delta)
                columns[2][1].append(chunk)
            for number in (GROUP_BYTES, GROUP_COMPRESSED):
                mine, theirs = _get(group, number), _get(more, number)
                if mine is not None and theirs is not None:
                    mine[2] += theirs[2]
        schema, more_schema = _get(base_meta, FILE_SCHEMA), _get(extra_meta, FILE_SCHEMA)
        if schema is None or more_schema is None:
            raise CannotJoin(f"{base} or {extra} has no schema")
        root, added = schema[2][1][0], more_schema[2][1][1:]
        children = _get(root, SCHEMA_CHILDREN)
        more_children = _get(more_schema[2][1][0], SCHEMA_CHILDREN)
        if children is None or more_children is None:
            raise CannotJoin(f"{base} or {extra} has no schema root")
        children[2] += more_children[2]
        schema[2][1].extend(added)
        orders, more_orders = _get(base_meta, FILE_COLUMN_ORDERS), _get(extra_meta, FILE_COLUMN_ORDERS)
        if orders is not None and more_orders is not None:
            orders[2][1].extend(more_orders[2][1])
        elif orders is not None:  # one order per leaf column or none at all
            base_meta.remove(orders)
        target = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            end = _copy(first.fileno(), 0, base_end, target, 0)
            end = _copy(second.fileno(), len(MAGIC), extra_end, target, end)
            writer = _Writer()
            writer.struct(base_meta)
            os.pwrite(target, bytes(writer.out) + struct.pack("<I", len(writer.out)) + MAGIC, end)
        except BaseException:
            os.close(target)
            os.unlink(out)
            raise
        os.close(target)
