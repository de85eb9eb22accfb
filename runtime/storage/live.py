"""Live tiered-file backend: every request is real I/O on a real device, and its measured latency is the answer.

A tier is a directory on a device (default: `/dev/shm` for the fastest, an `O_DIRECT` file under `/var/tmp`
on the local disk for the others). The adapter creates its own directory under each root and one file per
tier, filled with data first (reads of sparse holes would never reach the device), sized to the footprint or
the `live_budget_mib` budget, whichever is smaller (larger footprints fold onto the file by page number).
Requests become page-aligned `preadv`/`pwritev` calls of the request's pages; migrations copy the pages for
real. Safety, because Sibyl's own code writes destructively to raw block devices:

* only directories are accepted as roots, never block or character devices or anything else under `/dev`
  except `/dev/shm`;
* all I/O stays inside the directory the adapter created (`sysgym-storage-*`);
* a root without room for its tier file (plus 10 %) is refused before anything is written;
* `close()` removes what was created, and a `weakref.finalize` does the same when the env is garbage-collected
  or the interpreter exits after an exception.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import stat
import tempfile
import time
import weakref
from pathlib import Path

from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.storage.config import StorageConfig
from sysgym.envs.storage.core import StorageIO
from sysgym.envs.storage.devices import DeviceSpec
from sysgym.envs.storage.workloads import Workload

PREFIX = "sysgym-storage-"
FILL_CHUNK = 1 << 20


def default_roots(n_devices: int) -> tuple[str, ...]:
    """`/dev/shm` for the fastest tier, the local disk (`/var/tmp`, else the temp dir) for the others."""
    disk = "/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir()
    return ("/dev/shm", *([disk] * (n_devices - 1)))


def check_root(root: str, need_bytes: int) -> Path:
    """A root the adapter may create its directory in, or `BackendUnavailableError` saying why not."""
    path = Path(root).resolve()
    if not path.exists():
        raise BackendUnavailableError(f"live storage root {root!r} does not exist")
    mode = path.stat().st_mode
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        raise BackendUnavailableError(f"live storage root {root!r} is a device; give a directory on it")
    if not stat.S_ISDIR(mode):
        raise BackendUnavailableError(f"live storage root {root!r} is not a directory")
    if path.parts[:2] == ("/", "dev") and path.parts[:3] != ("/", "dev", "shm"):
        raise BackendUnavailableError(f"live storage root {root!r} is under /dev; only /dev/shm is allowed there")
    free = shutil.disk_usage(path).free
    if free < need_bytes * 1.1:
        raise BackendUnavailableError(
            f"live storage root {root!r} has {free >> 20} MiB free, the tier needs {need_bytes * 1.1 / 2**20:.0f} MiB"
        )
    return path


def _cleanup(fds: list[int], dirs: list[str], maps: list[mmap.mmap]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
    for folder in dirs:
        shutil.rmtree(folder, ignore_errors=True)
    dirs.clear()
    for buffer in maps:
        with contextlib.suppress(BufferError):  # a view may outlive us at exit; the OS frees the mapping
            buffer.close()
    maps.clear()


class LiveIO(StorageIO):
    """Real tier files; `serve` and `migrate` return measured microseconds."""

    def __init__(self, roots: tuple[str, ...], workload: Workload, budget_bytes: int) -> None:
        page = workload.page_bytes
        self.page_bytes = page
        self.file_pages = max(1, min(workload.footprint, budget_bytes // page))
        size = self.file_pages * page
        largest = int(workload.counts.max()) * page if len(workload) else page
        self.fds: list[int] = []
        self.dirs: list[str] = []
        self.direct: list[bool] = []
        self._maps: list[mmap.mmap] = []
        self._finalizer = weakref.finalize(self, _cleanup, self.fds, self.dirs, self._maps)
        try:
            checked = [check_root(root, size) for root in roots]
            for k, root in enumerate(checked):
                folder = tempfile.mkdtemp(prefix=PREFIX, dir=root)
                self.dirs.append(folder)
                fd, direct = self._open(os.path.join(folder, f"tier{k}.dat"), k > 0)
                self.fds.append(fd)
                self.direct.append(direct)
            self._buffer = mmap.mmap(-1, max(min(largest, size), page))  # page-aligned, as O_DIRECT needs
            self._maps.append(self._buffer)
            self._view = memoryview(self._buffer)
            for fd in self.fds:
                self._fill(fd, size)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _open(path: str, want_direct: bool) -> tuple[int, bool]:
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
        if want_direct and hasattr(os, "O_DIRECT"):
            try:
                return os.open(path, flags | os.O_DIRECT, 0o600), True
            except OSError:  # tmpfs and some filesystems refuse O_DIRECT; fall back to buffered I/O
                pass
        return os.open(path, flags, 0o600), False

    def _fill(self, fd: int, size: int) -> None:
        chunk = mmap.mmap(-1, FILL_CHUNK)
        try:
            chunk.write(b"\xa5" * FILL_CHUNK)
            view = memoryview(chunk)
            done = 0
            while done < size:
                step = min(FILL_CHUNK, size - done)
                os.pwritev(fd, [view[:step]], done)
                done += step
            view.release()
        finally:
            chunk.close()
        os.fsync(fd)

    def _span(self, page: int, npages: int) -> tuple[int, int]:
        """Byte offset and length inside the tier file (pages fold onto the budgeted file)."""
        n = min(npages, self.file_pages, len(self._buffer) // self.page_bytes)
        first = page % self.file_pages
        if first + n > self.file_pages:
            first = self.file_pages - n
        return first * self.page_bytes, n * self.page_bytes

    def serve(self, t: float, device: int, is_write: bool, page: int, npages: int, nbytes: float) -> float:
        """Do the request's I/O on the tier file; its measured latency in microseconds."""
        offset, length = self._span(page, npages)
        chunk = self._view[:length]
        begin = time.perf_counter_ns()
        if is_write:
            os.pwritev(self.fds[device], [chunk], offset)
        else:
            os.preadv(self.fds[device], [chunk], offset)
        return (time.perf_counter_ns() - begin) / 1000.0

    def migrate(self, t: float, src: int, dst: int, page: int, npages: int, nbytes: float) -> float:
        """Copy the pages for real (read from the source tier, write to the destination); microseconds."""
        offset, length = self._span(page, npages)
        chunk = self._view[:length]
        begin = time.perf_counter_ns()
        os.preadv(self.fds[src], [chunk], offset)
        os.pwritev(self.fds[dst], [chunk], offset)
        return (time.perf_counter_ns() - begin) / 1000.0

    def backlogs(self, now: float) -> list[float]:
        """Requests run one at a time here, so nothing waits in a queue of ours."""
        return [0.0] * len(self.fds)

    def close(self) -> None:
        """Close the files and remove the directories created (idempotent)."""
        if hasattr(self, "_view"):
            self._view.release()
            del self._view
        self._finalizer()


class LiveIOFactory:
    """Builds a `LiveIO` per episode from the env config (picklable, like the model's factory)."""

    def __init__(self, config: StorageConfig) -> None:
        self.roots = config.live_roots or default_roots(len(config.device_names))
        self.budget = config.live_budget_mib << 20

    def __call__(self, specs: list[DeviceSpec], capacity_bytes: list[float], workload: Workload) -> LiveIO:
        """Fresh tier files for one episode."""
        return LiveIO(self.roots, workload, self.budget)
