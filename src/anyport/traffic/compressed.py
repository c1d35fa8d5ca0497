"""Compressed captures and logs: gzip, zstandard, bzip2 and xz, recognised from their first bytes (not the name).

Logs (gzip and zstandard) are read as streams (:func:`open_zstd` for zstandard). A compressed capture is
decompressed once into an unnamed temporary file, which is then memory-mapped like a plain
capture: memory stays bounded whatever the capture's size, and every reader works on it unchanged. A stream that
ends early or is corrupt keeps what was decompressed before the damage; the reason is returned so that it can be
reported with the capture's statistics.
"""

from __future__ import annotations

import io
import mmap
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from anyport.errors import DataError

__all__ = ["compression_errors", "compression_of", "decompressed", "decompressed_head", "open_zstd"]

_MAGICS = ((b"\x1f\x8b", "gzip"), (b"(\xb5/\xfd", "zstd"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_CHUNK = 1 << 20


def compression_of(head: bytes) -> str | None:
    """The compression a file's first bytes announce ("gzip", "zstd", "bzip2", "xz"), or None."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    return None


def _zstd_chunks(handle: BinaryIO) -> Iterator[bytes]:
    import zstandard

    decompressor = zstandard.ZstdDecompressor()
    frame = decompressor.decompressobj()
    open_frame = False  # input fed to a frame that has not ended yet
    while data := handle.read(1 << 16):  # small inputs keep each decompress() call's output small
        while data:
            yield frame.decompress(data)
            open_frame = not frame.eof
            if frame.eof:  # one frame ended: the rest (if any) starts the next one
                data = frame.unused_data
                frame = decompressor.decompressobj()
            else:
                data = b""
    if open_frame:
        raise EOFError("the zstandard stream ends inside a frame")


class _ChunkStream:
    """Decompressed chunks as a binary stream: ``read`` returns the next non-empty chunk (``size`` is a hint)."""

    def __init__(self, chunks: Iterator[bytes], raw: BinaryIO) -> None:
        self._chunks = chunks
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        for data in self._chunks:
            if data:
                return data
        return b""

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _ChunkStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_zstd(path: str | os.PathLike[str]) -> BinaryIO:
    """A zstandard file as a binary stream, frame after frame; a frame cut short raises EOFError, as gzip does."""
    raw = open(path, "rb")  # noqa: SIM115 - closed with the stream
    return _ChunkStream(_zstd_chunks(raw), raw)  # type: ignore[return-value]


def _stream(handle: BinaryIO, kind: str) -> io.BufferedIOBase:
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=handle, mode="rb")
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(handle)
    import lzma

    return lzma.LZMAFile(handle)


def _chunks(handle: BinaryIO, kind: str) -> Iterator[bytes]:
    if kind == "zstd":
        yield from _zstd_chunks(handle)
        return
    with _stream(handle, kind) as stream:
        while data := stream.read1(_CHUNK):  # read1: what came before a truncation is kept
            yield data


def compression_errors() -> tuple[type[BaseException], ...]:
    """What a cut or corrupt stream raises, whatever its compression (imports the decoders: use in ``except``)."""
    import lzma
    import zlib

    import zstandard

    # gzip.BadGzipFile is an OSError; bz2 reports corruption as OSError too.
    return (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


def decompressed_head(path: str | os.PathLike[str], kind: str, size: int = 64) -> bytes:
    """Up to ``size`` decompressed bytes from the start of a compressed file (b"" when it cannot be read)."""
    head = b""
    try:
        with open(path, "rb") as handle:
            for data in _chunks(handle, kind):
                head += data
                if len(head) >= size:
                    break
    except compression_errors():
        pass
    return head[:size]


_CHECK_EVERY = 64 << 20  # how often (decompressed bytes) the free space is looked at


def reserve_bytes() -> int:
    """Free space a decompression leaves in the temporary directory (``ANYPORT_TMP_RESERVE_MB``, default 1024)."""
    text = os.environ.get("ANYPORT_TMP_RESERVE_MB", "")
    return (int(text) if text.isdigit() else 1024) << 20


def _free_bytes(out: BinaryIO) -> int:
    stats = os.fstatvfs(out.fileno())
    return stats.f_bavail * stats.f_frsize


def decompressed(path: str | os.PathLike[str], kind: str) -> tuple[mmap.mmap, str]:
    """The decompressed content, memory-mapped, and why decompression stopped early ("" when it did not).

    Raises :class:`DataError` when nothing at all could be decompressed.
    """
    reason = ""
    written = 0
    checked = 0
    with tempfile.TemporaryFile(prefix="anyport-capture-") as out:
        try:
            with open(path, "rb") as handle:
                for data in _chunks(handle, kind):
                    out.write(data)
                    written += len(data)
                    if written - checked >= _CHECK_EVERY:
                        checked = written
                        if _free_bytes(out) < reserve_bytes():
                            # a decompression bomb, or just too big for this disk: keep what fits, say so
                            reason = (
                                f"stopped after {written} decompressed bytes: the temporary directory would have "
                                f"less than {reserve_bytes() >> 20} MiB free (set ANYPORT_TMP_RESERVE_MB or TMPDIR)"
                            )
                            break
        except compression_errors() as exc:
            reason = f"the {kind} stream is truncated or corrupt after {written} decompressed bytes ({exc})"
        if not written:
            raise DataError(f"{path}: {reason or f'the {kind} stream holds no data'}")
        out.flush()
        return mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ), reason
