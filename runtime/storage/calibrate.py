"""`sysgym calibrate --target storage`: measure a directory's device for the storage model.

It measures the device the way the packaged `disk` and `disk_qd` sections were measured and writes a file the
storage model accepts as a device (`devices=(..., FILE)`).

Method (O_DIRECT, so the page cache is bypassed; buffered with a note where the filesystem refuses O_DIRECT,
e.g. tmpfs): a test file is written sequentially (sequential write GB/s), read back in 1 MiB requests
(sequential read GB/s), then read and written at random 4 KiB-aligned offsets by 1, 4 and 16 threads for
4 KiB, 64 KiB and 256 KiB requests (IOPS and MB/s), plus single-thread 4 KiB random read and write latency
percentiles. The test directory is created under `--dir` and removed afterwards.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sysgym.runtime.storage.live import check_root

SIZES = (4096, 65536, 262144)
THREADS = (1, 4, 16)


def _open(path: str) -> tuple[int, bool]:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
    if hasattr(os, "O_DIRECT"):
        try:
            return os.open(path, flags | os.O_DIRECT, 0o600), True
        except OSError:
            pass
    return os.open(path, flags, 0o600), False


def _random_io(fd: int, file_bytes: int, io_bytes: int, threads: int, seconds: float, write: bool) -> float:
    """IOPS of random aligned requests from `threads` threads for about `seconds`."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        rng = np.random.default_rng(k)
        buffer = mmap.mmap(-1, io_bytes)
        view = memoryview(buffer)
        slots = file_bytes // io_bytes
        n = 0
        while time.perf_counter() < stop:
            offset = int(rng.integers(slots)) * io_bytes
            if write:
                os.pwritev(fd, [view], offset)
            else:
                os.preadv(fd, [view], offset)
            n += 1
        view.release()
        buffer.close()
        counts[k] = n

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    begin = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - begin)


def _latencies(fd: int, file_bytes: int, samples: int, write: bool) -> np.ndarray:
    rng = np.random.default_rng(1)
    buffer = mmap.mmap(-1, 4096)
    view = memoryview(buffer)
    out = np.empty(samples)
    for k in range(samples):
        offset = int(rng.integers(file_bytes // 4096)) * 4096
        begin = time.perf_counter_ns()
        if write:
            os.pwritev(fd, [view], offset)
        else:
            os.preadv(fd, [view], offset)
        out[k] = (time.perf_counter_ns() - begin) / 1000.0
    view.release()
    buffer.close()
    return out


def measure(directory: Path, size_mib: int = 512, seconds: float = 1.0, samples: int = 2000) -> dict[str, Any]:
    """Run the measurements in a fresh folder under `directory`; returns the calibration document."""
    file_bytes = size_mib << 20
    root = check_root(str(directory), file_bytes)
    folder = tempfile.mkdtemp(prefix="sysgym-calibrate-", dir=root)
    try:
        fd, direct = _open(os.path.join(folder, "probe.dat"))
        try:
            chunk = mmap.mmap(-1, 1 << 20)
            chunk.write(b"\x5a" * (1 << 20))
            view = memoryview(chunk)
            begin = time.perf_counter()
            for k in range(file_bytes >> 20):
                os.pwritev(fd, [view], k << 20)
            os.fsync(fd)
            seq_write = file_bytes / (time.perf_counter() - begin) / 1e9
            begin = time.perf_counter()
            for k in range(file_bytes >> 20):
                os.preadv(fd, [view], k << 20)
            seq_read = file_bytes / (time.perf_counter() - begin) / 1e9
            view.release()
            chunk.close()
            reads = _latencies(fd, file_bytes, samples, write=False)
            writes = _latencies(fd, file_bytes, samples, write=True)
            rows: dict[str, list[dict[str, float]]] = {"random_read": [], "random_write": []}
            for kind in rows:
                for size in SIZES:
                    for threads in THREADS:
                        iops = _random_io(fd, file_bytes, size, threads, seconds, kind == "random_write")
                        rows[kind].append(
                            {"io_bytes": size, "threads": threads, "iops": iops, "mbps": iops * size / 1e6}
                        )
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "about": (
            f"Storage calibration of {directory} taken {datetime.now(timezone.utc).isoformat(timespec='seconds')} by "
            f"`sysgym calibrate --target storage`: {'O_DIRECT' if direct else 'buffered (O_DIRECT refused)'} I/O on "
            f"a {size_mib} MiB file; latencies in microseconds, {samples} samples; IOPS over {seconds:g} s per row."
        ),
        "sections": {
            "disk": {
                "seq_write_gbps": seq_write,
                "seq_read_1m_gbps": seq_read,
                "rand_read_4k_us_p50": float(np.percentile(reads, 50)),
                "rand_read_4k_us_p99": float(np.percentile(reads, 99)),
                "rand_write_4k_us_p50": float(np.percentile(writes, 50)),
                "rand_write_4k_us_p99": float(np.percentile(writes, 99)),
                "o_direct": direct,
            },
            "disk_qd": {**rows, "cpus": os.cpu_count() or 1},
        },
    }


def run(out: Path, directory: Path | None = None, size_mib: int = 512, seconds: float = 1.0) -> None:
    """Measure the device holding `directory` (default: the local disk's temp dir) and write `out`."""
    target = directory or Path("/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir())
    document = measure(target, size_mib=size_mib, seconds=seconds)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n")
