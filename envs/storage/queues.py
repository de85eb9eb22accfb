"""Service times and queueing of the model backend: one queue per device, shared by foreground and migrations.

Each device has `parallelism` command slots (a heap of the times they free up) and one transfer pipe at the
device's bandwidth. A request takes the earliest free slot, pays the base latency (plus seek and rotation on an
HDD unless it continues the previous access, and the SLC-cache state on a QLC write), then transfers its bytes
through the pipe; its slot stays held for at least `parallelism / IOPS`, which is what caps small random IOPS at
the datasheet figure. Migrations go through the same queues, so they delay foreground requests that arrive while
they run.
"""

from __future__ import annotations

from heapq import heapreplace as _heapreplace

from mypy_extensions import mypyc_attr

from sysgym.envs.storage.core import StorageIO
from sysgym.envs.storage.devices import DeviceSpec, seek_ms


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class DeviceQueue:
    """The queue and state of one modelled device; times are microseconds since the episode start."""

    def __init__(self, spec: DeviceSpec, capacity_bytes: float, address: list[int], page_bytes: int) -> None:
        self.spec = spec
        self._slots = [0.0] * spec.parallelism
        self._pipe = 0.0
        self._r_base, self._w_base = spec.read_base_us, spec.write_base_us
        self._r_bw, self._w_bw = spec.read_mbps, spec.write_mbps  # bytes per microsecond
        self._r_occ = spec.parallelism * 1e6 / spec.read_iops
        self._w_occ = spec.parallelism * 1e6 / spec.write_iops
        self._hdd = spec.is_hdd
        self._head = -1
        self._address = address
        self._span = spec.device_gb * 1e9 / page_bytes  # device size in pages
        self._slc_cap = spec.slc_cache_fraction * capacity_bytes
        self._slc_free = self._slc_cap
        self._fold = spec.fold_mbps
        self._last_fold = 0.0
        self._post_base, self._post_bw = spec.post_cache_write_base_us, spec.post_cache_write_mbps
        self.busy_us = 0.0

    def read(self, t: float, page: int, npages: int, nbytes: float) -> float:
        """Queue one read arriving at `t`; returns its completion time."""
        base = self._r_base
        if self._hdd:
            base += self._position(page, npages)
        return self._occupy(t, base, self._r_bw, self._r_occ, nbytes)

    def write(self, t: float, page: int, npages: int, nbytes: float) -> float:
        """Queue one write arriving at `t` (through the SLC cache on a QLC drive); returns its completion time."""
        base, bw = self._w_base, self._w_bw
        if self._slc_cap > 0.0:
            free = self._slc_free + (t - self._last_fold) * self._fold
            self._last_fold = t
            if free > self._slc_cap:
                free = self._slc_cap
            if free >= nbytes:
                self._slc_free = free - nbytes
            else:
                self._slc_free = free
                base, bw = self._post_base, self._post_bw
        if self._hdd:
            base += self._position(page, npages)
        return self._occupy(t, base, bw, self._w_occ, nbytes)

    def _occupy(self, t: float, base: float, bw: float, occ: float, nbytes: float) -> float:
        """Hold the earliest free slot from `t` for `occ` and the transfer pipe for `nbytes`; the completion time."""
        slots = self._slots
        start = slots[0]
        if start < t:
            start = t
        xfer = start + base
        if xfer < self._pipe:
            xfer = self._pipe
        end = xfer + nbytes / bw
        self._pipe = end
        hold = start + occ
        _heapreplace(slots, end if end > hold else hold)
        self.busy_us += end - start
        return end

    def _position(self, page: int, npages: int) -> float:
        """HDD head movement to `page` (seek plus rotation; none when the access continues the previous one)."""
        where = self._address[page]
        extra = 0.0
        if where != self._head:
            distance = abs(where - self._head) / self._span if self._head >= 0 else 0.0
            extra = 1000.0 * (seek_ms(self.spec, distance) + self.spec.rotation_ms)
        self._head = where + npages
        return extra

    def backlog_us(self, now: float) -> float:
        """How long a request arriving `now` would wait for a slot."""
        wait = self._slots[0] - now
        return wait if wait > 0.0 else 0.0


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class ModelIO(StorageIO):
    """The model backend's devices: queues that return simulated completion times."""

    def __init__(
        self, specs: list[DeviceSpec], capacity_bytes: list[float], address: list[int], page_bytes: int
    ) -> None:
        self.queues = [DeviceQueue(s, c, address, page_bytes) for s, c in zip(specs, capacity_bytes, strict=True)]

    def serve(self, t: float, device: int, is_write: bool, page: int, npages: int, nbytes: float) -> float:
        """Perform one foreground request's share on `device`; returns its latency in microseconds."""
        q = self.queues[device]
        if is_write:
            return q.write(t, page, npages, nbytes) - t
        return q.read(t, page, npages, nbytes) - t

    def migrate(self, t: float, src: int, dst: int, page: int, npages: int, nbytes: float) -> float:
        """Move a run of pages (read on `src`, then write on `dst`); returns the device time it used."""
        source, target = self.queues[src], self.queues[dst]
        before = source.busy_us + target.busy_us
        target.write(source.read(t, page, npages, nbytes), page, npages, nbytes)
        return source.busy_us + target.busy_us - before

    def backlogs(self, now: float) -> list[float]:
        """Wait a request arriving `now` would see on every device."""
        return [q.backlog_us(now) for q in self.queues]

    def close(self) -> None:
        """Nothing to release in a model."""
