"""Events spilled to disk while Failsafe is unreachable: bounded, append-only segment files.

A spill directory holds numbered segment files (`000000000001.spill`, ...), oldest first.
Each starts with `MAGIC`, then records, each framed as a 4-byte big-endian length, the
CRC-32 of the payload, and the payload: the system's slug and the event's id (each a
2-byte length and UTF-8) and the event as the JSON sent to the server. Records are only
ever appended, to the newest segment; a segment is deleted once every record in it is
sent, or when the size limit drops it (oldest first).

Crash safety: each write of records is flushed and fsynced before the events leave
memory, and a new segment's directory entry is fsynced too, so what was spilled survives
a crash or a power cut. A process killed mid-write leaves at most a partly written last
record: at start the scan stops a segment at its first record that is short or whose
CRC does not match, truncates it there (the torn record is skipped), and never appends to
an old segment again, so a torn record cannot poison what comes after it.

Used only by the sender thread (and by `close()` once the thread is done): no locking.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger("failsafe_client")

MAGIC = b"FSSPILL1"
HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload
NAME = struct.Struct(">H")
SUFFIX = ".spill"
# A segment is a sixteenth of the limit (at least 64 KiB): the size limit drops a whole
# segment at a time, so it overshoots what it keeps by at most one segment.
SEGMENTS = 16
MIN_SEGMENT = 64 * 1024

Record = tuple[str, str, bytes]  # (system, event id, the event as JSON)


@dataclass
class _Segment:
    number: int
    path: Path
    size: int  # bytes, the magic included
    records: int  # records in it, sent or not


class Spill:
    """The segments of one spill directory. `pending` is how many records wait on disk."""

    def __init__(self, path: str | Path, max_bytes: int) -> None:
        if max_bytes < 1024:
            raise ValueError("spill_max_bytes must be at least 1024")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = max(MIN_SEGMENT, max_bytes // SEGMENTS)
        self._segments: list[_Segment] = []
        # The reading position: in the oldest segment, after `_read_records` records.
        self._read_offset = len(MAGIC)
        self._read_records = 0
        self._peeked = (0, len(MAGIC))  # what the last peek() read: records, end offset
        self._writer: BinaryIO | None = None
        self.pending = 0
        self.torn = 0  # segments found with a partly written last record
        self.damaged = 0  # records unreadable after they were written (counted as dropped)
        for number, path in sorted(self._existing()):
            segment = self._scan(number, path)
            if segment is not None:
                self._segments.append(segment)
                self.pending += segment.records

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self._segments)

    # Writing.

    def append(self, records: list[Record]) -> int:
        """Write the records after the others and fsync them. Answers how many records
        the size limit dropped to make room (the oldest first, the new one if it alone is
        over the limit)."""
        dropped = 0
        frames: list[bytes] = []
        for system, event_id, data in records:
            frame = _frame(system, event_id, data)
            if len(frame) + len(MAGIC) > self.max_bytes:
                dropped += 1
                continue
            dropped += self._make_room(len(frame))
            writer, segment = self._writable(len(frame))
            writer.write(frame)
            segment.size += len(frame)
            segment.records += 1
            self.pending += 1
            frames.append(frame)
        if frames and self._writer is not None:
            self._writer.flush()
            os.fsync(self._writer.fileno())
        return dropped

    def _make_room(self, needed: int) -> int:
        dropped = 0
        while self._segments and self.size + needed > self.max_bytes:
            if len(self._segments) == 1:
                self._roll()  # never drop the segment being written while it is the only one
            dropped += self._drop_oldest()
        return dropped

    def _writable(self, needed: int) -> tuple[BinaryIO, _Segment]:
        if (
            self._writer is None
            or not self._segments
            or self._segments[-1].size + needed > self.segment_bytes
        ):
            self._roll()
            number = self._segments[-1].number + 1 if self._segments else 1
            path = self.path / f"{number:012d}{SUFFIX}"
            self._writer = path.open("xb")
            self._writer.write(MAGIC)
            self._segments.append(_Segment(number, path, len(MAGIC), 0))
            _fsync_dir(self.path)
        return self._writer, self._segments[-1]

    def _roll(self) -> None:
        """Finish the segment being written: the next record starts a new one."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _drop_oldest(self) -> int:
        oldest = self._segments[0]
        unsent = oldest.records - self._read_records
        self._remove_oldest()
        self.pending -= unsent
        logger.warning(
            "The spill at %s is full (%d bytes): dropped its oldest %d events",
            self.path,
            self.max_bytes,
            unsent,
        )
        return unsent

    # Reading.

    def peek(self, limit: int) -> list[Record]:
        """Up to `limit` of the oldest records still on disk, all of one system (the
        oldest record's), in the order they were written."""
        records: list[Record] = []
        if not self._segments:
            return records
        segment = self._segments[0]
        if segment is self._segments[-1] and self._writer is not None:
            self._writer.flush()
        with segment.path.open("rb") as file:
            file.seek(self._read_offset)
            offset = self._read_offset
            for _ in range(min(limit, segment.records - self._read_records)):
                record, length = _read(file)
                if record is None:
                    break
                if records and record[0] != records[0][0]:
                    break
                records.append(record)
                offset += length
        if not records:  # damaged since it was written: what is left of it is lost
            lost = segment.records - self._read_records
            logger.warning("%s is damaged: %d events in it skipped", segment.path, lost)
            self.pending -= lost
            self.damaged += lost
            self._remove_oldest()
            return self.peek(limit)
        self._peeked = (len(records), offset)
        return records

    def advance(self) -> None:
        """The records of the last `peek()` are done with: move past them."""
        count, offset = self._peeked
        self._read_records += count
        self._read_offset = offset
        self.pending -= count
        if self._read_records >= self._segments[0].records:
            self._remove_oldest()  # all sent: nothing of it is replayed again

    def close(self) -> None:
        self._roll()

    # Internals.

    def _remove_oldest(self) -> None:
        oldest = self._segments.pop(0)
        if not self._segments:  # it was the one being written
            self._roll()
        oldest.path.unlink(missing_ok=True)
        self._read_offset = len(MAGIC)
        self._read_records = 0

    def _existing(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.path.glob(f"*{SUFFIX}"):
            try:
                found.append((int(path.stem), path))
            except ValueError:
                continue
        return found

    def _scan(self, number: int, path: Path) -> _Segment | None:
        """A segment left by an earlier process: count its whole records, and cut off a
        partly written last one."""
        with path.open("rb") as file:
            if file.read(len(MAGIC)) != MAGIC:
                logger.warning("%s is not a spill segment: left alone", path)
                return None
            size, records = len(MAGIC), 0
            while True:
                record, length = _read(file)
                if record is None:
                    break
                size += length
                records += 1
            torn = file.seek(0, os.SEEK_END) > size
        if torn:
            self.torn += 1
            logger.warning("%s ends in a partly written event: skipped", path)
            os.truncate(path, size)
        if records == 0:
            path.unlink(missing_ok=True)
            return None
        return _Segment(number, path, size, records)


def _frame(system: str, event_id: str, data: bytes) -> bytes:
    names = b"".join(NAME.pack(len(n)) + n for n in (system.encode(), event_id.encode()))
    payload = names + data
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _read(file: BinaryIO) -> tuple[Record | None, int]:
    """The next whole record and its length on disk, or (None, 0) at the end or at a torn
    or damaged record."""
    header = file.read(HEADER.size)
    if len(header) < HEADER.size:
        return None, 0
    length, crc = HEADER.unpack(header)
    if length < 2 * NAME.size:  # zeros left by a crash are no record either
        return None, 0
    payload = file.read(length)
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None, 0
    names, at = [], 0
    try:
        for _ in range(2):
            (size,) = NAME.unpack_from(payload, at)
            names.append(payload[at + NAME.size : at + NAME.size + size].decode())
            at += NAME.size + size
    except (struct.error, UnicodeDecodeError):
        return None, 0
    return (names[0], names[1], payload[at:]), HEADER.size + length


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory: its entries are durable anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
