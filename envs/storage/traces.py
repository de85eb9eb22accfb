"""Streaming loaders for block-I/O traces: MSR Cambridge, FIU, Sibyl's CSV and CloudPhysics-style vscsi CSV.

Every loader yields `Record`s one line at a time, so a multi-GB MSR volume is never read into memory: the env
takes only the first `max_requests` rows. Every malformed row raises `TraceFormatError` with its 1-based line.

Formats (see the storage reference, section 4):
    msr: headerless `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`; Windows FILETIME ticks of
        100 ns; Type `Read`/`Write`; Offset and Size in bytes.
    fiu: whitespace-separated `ts_ns pid process lba size_in_512B_blocks R|W [major minor md5]`.
    sibyl: headerless `offset,size_bytes,type` with type Read/Write (R/W and 0/1 accepted), no timestamps.
    cloudphysics: a header naming at least `time,op,size,lbn` (libCacheSim's `version,time,op,size,lbn`); op is
        a hex SCSI opcode (0x28/0x08/0x88/0xa8 read, 0x2a/0x0a/0x8a/0xaa write; other commands carry no data and
        are skipped), size in bytes, lbn in 512-byte sectors; time is a tick used only for ordering.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sysgym.envs.core.errors import TraceFormatError

FORMATS = ("msr", "fiu", "sibyl", "cloudphysics")
MAX_REQUEST_BYTES = 64 << 20
MAX_OFFSET = 1 << 50
SECTOR = 512
SCSI_READS = frozenset({0x08, 0x28, 0x88, 0xA8})
SCSI_WRITES = frozenset({0x0A, 0x2A, 0x8A, 0xAA})
_WRITE_WORDS = {"write": True, "w": True, "1": True, "read": False, "r": False, "0": False}


@dataclass(frozen=True)
class Record:
    """One request: seconds (None when the format has no usable clock), direction, byte offset and size."""

    time_s: float | None
    is_write: bool
    offset: int
    size: int


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-empty, non-comment lines with their 1-based numbers; undecodable bytes are a format error."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise TraceFormatError(path, number, f"not UTF-8 text ({exc.reason})") from exc
            if line and not line.startswith("#"):
                yield number, line


def _int(path: Path, line: int, text: str, what: str, base: int = 10) -> int:
    try:
        return int(text.strip(), base)
    except ValueError:
        raise TraceFormatError(path, line, f"{what} {text!r} is not an integer") from None


def _float(path: Path, line: int, text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise TraceFormatError(path, line, f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TraceFormatError(path, line, f"{what} {text!r} is not finite")
    return value


def _direction(path: Path, line: int, text: str) -> bool:
    word = text.strip().lower()
    if word not in _WRITE_WORDS:
        raise TraceFormatError(path, line, f"request type {text!r} is neither read nor write")
    return _WRITE_WORDS[word]


def _checked(path: Path, line: int, time_s: float | None, is_write: bool, offset: int, size: int) -> Record:
    if offset < 0 or offset >= MAX_OFFSET:
        raise TraceFormatError(path, line, f"offset {offset} is outside [0, 2^50)")
    if size < 0 or size > MAX_REQUEST_BYTES:
        raise TraceFormatError(path, line, f"size {size} is outside [0, 64 MiB]")
    return Record(time_s, is_write, offset, size)


def _fields(path: Path, line: int, text: str, count: int, sep: str | None) -> list[str]:
    fields = text.split(sep)
    too_few = len(fields) < count if sep is None else len(fields) != count
    if too_few:
        raise TraceFormatError(path, line, f"expected {count} fields, found {len(fields)}")
    return fields


def read_msr(path: Path) -> Iterator[Record]:
    """MSR Cambridge rows."""
    for line, text in _lines(path):
        f = _fields(path, line, text, 7, ",")
        ticks = _int(path, line, f[0], "timestamp")
        yield _checked(
            path,
            line,
            ticks * 1e-7,
            _direction(path, line, f[3]),
            _int(path, line, f[4], "offset"),
            _int(path, line, f[5], "size"),
        )


def read_fiu(path: Path) -> Iterator[Record]:
    """FIU rows."""
    for line, text in _lines(path):
        f = _fields(path, line, text, 6, None)
        ns = _int(path, line, f[0], "timestamp")
        lba = _int(path, line, f[3], "lba")
        blocks = _int(path, line, f[4], "size")
        yield _checked(path, line, ns * 1e-9, _direction(path, line, f[5]), lba * SECTOR, blocks * SECTOR)


def read_sibyl(path: Path) -> Iterator[Record]:
    """Sibyl CSV rows (no clock)."""
    for line, text in _lines(path):
        f = _fields(path, line, text, 3, ",")
        yield _checked(
            path,
            line,
            None,
            _direction(path, line, f[2]),
            _int(path, line, f[0], "offset"),
            _int(path, line, f[1], "size"),
        )


def read_cloudphysics(path: Path) -> Iterator[Record]:
    """CloudPhysics vscsi CSV rows after the header (the tick only orders requests)."""
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise TraceFormatError(path, 1, "empty trace")
    header_line, header = first
    names = [name.strip().lower() for name in header.split(",")]
    missing = [c for c in ("time", "op", "size", "lbn") if c not in names]
    if missing:
        raise TraceFormatError(path, header_line, f"header lacks column(s) {', '.join(missing)}")
    col = {name: i for i, name in enumerate(names)}
    for line, text in lines:
        f = _fields(path, line, text, len(names), ",")
        opcode = _int(path, line, f[col["op"]], "opcode", 16 if f[col["op"]].strip().lower().startswith("0x") else 10)
        _float(path, line, f[col["time"]], "time")
        size = _int(path, line, f[col["size"]], "size")
        lbn = _int(path, line, f[col["lbn"]], "lbn")
        if opcode not in SCSI_READS and opcode not in SCSI_WRITES:
            continue
        yield _checked(path, line, None, opcode in SCSI_WRITES, lbn * SECTOR, size)


READERS = {"msr": read_msr, "fiu": read_fiu, "sibyl": read_sibyl, "cloudphysics": read_cloudphysics}


def detect_format(path: Path) -> str:
    """The format of a trace, told from its first line."""
    for line, text in _lines(path):
        names = {field.strip().lower() for field in text.split(",")}
        if names & {"time", "op", "size", "lbn"}:  # a header row: the generic / CloudPhysics CSV
            return "cloudphysics"
        if "," in text:
            count = len(text.split(","))
            if count == 7:
                return "msr"
            if count == 3:
                return "sibyl"
        elif len(text.split()) >= 6:
            return "fiu"
        raise TraceFormatError(path, line, "cannot tell the trace format; pass format=msr|fiu|sibyl|cloudphysics")
    raise TraceFormatError(path, 1, "empty trace")


def records(path: str | Path, fmt: str = "auto") -> Iterator[Record]:
    """Stream a trace's data requests (zero-size rows are dropped: they move no data)."""
    file = Path(path)
    if not file.is_file():
        raise TraceFormatError(file, 0, "no such trace file")
    name = detect_format(file) if fmt == "auto" else fmt
    for record in READERS[name](file):
        if record.size > 0:
            yield record
