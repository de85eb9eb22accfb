"""Calibrated storage-device models: datasheet parameters plus devices fitted to measured O_DIRECT numbers.

A device is described by what a datasheet or a `calibrate` run gives: per-operation base latency at queue depth
1, transfer bandwidth, 4 KiB random IOPS at high queue depth, and internal parallelism (how many commands are in
flight at once). HDDs add a seek curve and rotational latency; QLC SSDs add an SLC write cache whose exhaustion
is the write cliff. `queues.py` turns these numbers into service times and queueing.

Sources (every number below cites one of them; "est." marks values no datasheet gives):
    [P4800X] Intel Optane SSD DC P4800X product brief / ARK (375 GB): 550K/500K 4 KiB random R/W IOPS at QD16,
        2,400/2,000 MB/s sequential R/W, typical latency < 10 us R/W.
    [P4510] Intel SSD DC P4510 2 TB product specification: 637K/139K 4 KiB random R/W IOPS, 3,200/2,000 MB/s
        sequential R/W, typical latency 77 us read / 18 us write.
    [S4510] Intel SSD D3-S4510 1.92 TB product specification: 97K/35.5K 4 KiB random R/W IOPS, 560/510 MB/s
        sequential R/W, typical latency 36 us read / 37 us write; SATA NCQ depth 32.
    [SU630] ADATA Ultimate SU630 960 GB product page: up to 520/450 MB/s sequential R/W; the SLC-cache size,
        post-cache write rate and latencies are review-level estimates (est.), not datasheet values.
    [ST1000DM010] Seagate BarraCuda 1 TB 7,200 rpm (ST1000DM010) datasheet: 210 MB/s max sustained transfer,
        4.16 ms average latency (half a rotation); seek times are not in the datasheet: 1 ms track-to-track and
        a 15 ms full stroke (est., typical for 3.5" 7,200 rpm drives) give an ~8.5 ms average random seek.
    [h100-host] `disk` and `disk_qd` of the packaged calibration (the H100 host's virtualized NVMe, O_DIRECT),
        fitted by `fit_measured`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sysgym.envs.calibration import load as load_calibration
from sysgym.envs.core.config import require
from sysgym.envs.core.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class DeviceSpec:
    """One device's performance parameters.

    Attributes:
        name: catalogue name (or the calibration file it was fitted from).
        label: the paper's label (H, M, L, L_SSD) or "user" for a calibrated device.
        read_base_us: fixed cost of one read at queue depth 1 (command + media access), microseconds.
        write_base_us: fixed cost of one write at queue depth 1, microseconds.
        read_mbps: read transfer bandwidth, MB/s (10^6 bytes per second).
        write_mbps: write transfer bandwidth, MB/s.
        read_iops: 4 KiB random read IOPS at high queue depth (bounds how long a command holds a slot).
        write_iops: 4 KiB random write IOPS at high queue depth.
        parallelism: commands the device serves at once (internal channels / NCQ slots that pay off).
        seek_min_ms: HDD track-to-track seek; 0 for SSDs.
        seek_max_ms: HDD full-stroke seek; 0 for SSDs.
        rotation_ms: HDD average rotational latency (half a turn); 0 for SSDs.
        slc_cache_fraction: QLC SLC write-cache size as a fraction of the device's capacity; 0 = no cache cliff.
        post_cache_write_mbps: write bandwidth once the SLC cache is full.
        post_cache_write_base_us: write base latency once the SLC cache is full.
        fold_mbps: rate at which the drive empties its SLC cache into QLC in the background.
        device_gb: the drive's size (GB); an HDD's seek distance is a fraction of it.
        source: where the numbers come from.
    """

    name: str
    label: str
    read_base_us: float
    write_base_us: float
    read_mbps: float
    write_mbps: float
    read_iops: float
    write_iops: float
    parallelism: int
    seek_min_ms: float = 0.0
    seek_max_ms: float = 0.0
    rotation_ms: float = 0.0
    slc_cache_fraction: float = 0.0
    post_cache_write_mbps: float = 0.0
    post_cache_write_base_us: float = 0.0
    fold_mbps: float = 0.0
    device_gb: float = 1000.0
    source: str = ""

    def __post_init__(self) -> None:
        require(self.read_base_us >= 0 and self.write_base_us >= 0, f"{self.name}: base latencies must be >= 0")
        require(self.read_mbps > 0 and self.write_mbps > 0, f"{self.name}: bandwidths must be > 0")
        require(self.read_iops > 0 and self.write_iops > 0, f"{self.name}: IOPS must be > 0")
        require(self.parallelism >= 1, f"{self.name}: parallelism must be >= 1")
        require(0.0 <= self.slc_cache_fraction <= 1.0, f"{self.name}: slc_cache_fraction must be in [0, 1]")
        if self.slc_cache_fraction > 0:
            require(self.post_cache_write_mbps > 0, f"{self.name}: a cached device needs post_cache_write_mbps")

    @property
    def is_hdd(self) -> bool:
        """Has a mechanical seek and rotation."""
        return self.rotation_ms > 0

    def read_4k_us(self) -> float:
        """Unloaded latency of one 4 KiB read at a short random distance (the unit rewards are normalised by)."""
        seek = 1000.0 * (self.seek_min_ms + self.rotation_ms) if self.is_hdd else 0.0
        return self.read_base_us + seek + 4096 / self.read_mbps


CATALOGUE: dict[str, DeviceSpec] = {
    "optane": DeviceSpec(
        name="optane",
        label="H",
        read_base_us=8.3,  # < 10 us typical, minus the 1.7 us transfer of 4 KiB at 2.4 GB/s [P4800X]
        write_base_us=8.0,  # < 10 us typical, minus the 2.0 us transfer at 2.0 GB/s [P4800X]
        read_mbps=2400.0,
        write_mbps=2000.0,
        read_iops=550_000.0,
        write_iops=500_000.0,
        parallelism=6,  # 550K IOPS x 10 us = 5.5 commands in flight [P4800X]
        source="P4800X",
    ),
    "tlc-nvme": DeviceSpec(
        name="tlc-nvme",
        label="M_NVMe",
        read_base_us=75.7,  # 77 us typical read minus 1.3 us transfer [P4510]
        write_base_us=16.0,  # 18 us typical write (DRAM-buffered) minus 2.0 us transfer [P4510]
        read_mbps=3200.0,
        write_mbps=2000.0,
        read_iops=637_000.0,
        write_iops=139_000.0,
        parallelism=49,  # 637K IOPS x 77 us [P4510]
        source="P4510",
    ),
    "sata-tlc": DeviceSpec(
        name="sata-tlc",
        label="M",
        read_base_us=28.7,  # 36 us typical read minus 7.3 us transfer at 560 MB/s [S4510]
        write_base_us=29.0,  # 37 us typical write minus 8.0 us transfer at 510 MB/s [S4510]
        read_mbps=560.0,
        write_mbps=510.0,
        read_iops=97_000.0,
        write_iops=35_500.0,
        parallelism=4,  # 97K IOPS x 36 us = 3.5 [S4510]
        source="S4510",
    ),
    "qlc-sata": DeviceSpec(
        name="qlc-sata",
        label="L_SSD",
        read_base_us=90.0,  # est.: QLC reads are slower than TLC's
        write_base_us=40.0,  # est.: SLC-cached write
        read_mbps=520.0,  # [SU630]
        write_mbps=450.0,  # [SU630]
        read_iops=40_000.0,  # est.
        write_iops=60_000.0,  # est.
        parallelism=4,
        slc_cache_fraction=0.05,  # est.: dynamic SLC cache of a few percent of a full drive
        post_cache_write_mbps=80.0,  # est.: direct-to-QLC writes after the cache is exhausted
        post_cache_write_base_us=600.0,  # est.: QLC program latency on the critical path
        fold_mbps=60.0,  # est.: background folding of SLC into QLC
        source="SU630",
    ),
    "hdd": DeviceSpec(
        name="hdd",
        label="L",
        read_base_us=100.0,  # est.: controller + command overhead
        write_base_us=100.0,  # est.
        read_mbps=210.0,  # [ST1000DM010]
        write_mbps=210.0,  # [ST1000DM010]
        read_iops=1_000_000.0,  # not the bound: the seek and rotation are
        write_iops=1_000_000.0,
        parallelism=1,
        seek_min_ms=1.0,  # est.
        seek_max_ms=15.0,  # est.
        rotation_ms=4.16,  # [ST1000DM010]
        device_gb=1000.0,  # [ST1000DM010]
        source="ST1000DM010",
    ),
}


def fit_measured(calibration: dict[str, Any], name: str) -> DeviceSpec:
    """A device fitted to a calibration file's `disk` and `disk_qd` sections (O_DIRECT measurements).

    Base latency and random-read bandwidth come from a least-squares line through the queue-depth-1 latencies
    (1 / IOPS of the single-thread rows) against request size; parallelism is the 4 KiB IOPS gain from one to
    many threads; sequential write bandwidth comes from `disk.seq_write_gbps`. Writes take the read base when
    the file has no write latencies (the packaged file measured none).
    """
    sections = calibration.get("sections", calibration)
    try:
        disk = sections["disk"]
        rows = sections["disk_qd"]["random_read"]
        qd1 = sorted((float(r["io_bytes"]), 1e6 / float(r["iops"])) for r in rows if int(r["threads"]) == 1)
        top_4k = max(float(r["iops"]) for r in rows if int(r["io_bytes"]) == 4096)
        seq_write_gbps = float(disk["seq_write_gbps"])
        read_4k_us = float(disk["rand_read_4k_us_p50"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"calibration {name!r} lacks disk/disk_qd fields the storage model needs: {exc}") from exc
    if len(qd1) < 2:
        raise ConfigError(f"calibration {name!r} needs single-thread random reads at two sizes at least")
    n = len(qd1)
    mean_x = sum(x for x, _ in qd1) / n
    mean_y = sum(y for _, y in qd1) / n
    var = sum((x - mean_x) ** 2 for x, _ in qd1)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in qd1) / var if var > 0 else 0.0
    slope = max(slope, 1e-6)
    read_mbps = 1.0 / slope  # bytes per us == MB/s
    read_base = max(read_4k_us - 4096 * slope, 1.0)
    parallelism = max(1, round(top_4k * read_4k_us / 1e6))
    write_rows = sections["disk_qd"].get("random_write", [])
    write_iops = max((float(r["iops"]) for r in write_rows if int(r["io_bytes"]) == 4096), default=top_4k)
    write_base = float(disk.get("rand_write_4k_us_p50", read_4k_us)) - 4096 / (1000.0 * seq_write_gbps)
    return DeviceSpec(
        name=name,
        label="user",
        read_base_us=read_base,
        write_base_us=max(write_base, 1.0),
        read_mbps=read_mbps,
        write_mbps=1000.0 * seq_write_gbps,
        read_iops=top_4k,
        write_iops=write_iops,
        parallelism=parallelism,
        source=f"measured ({name})",
    )


def resolve(name: str) -> DeviceSpec:
    """A catalogue device, `nvme-measured` (the packaged calibration), or a `calibrate` JSON file path."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    if name == "nvme-measured":
        return fit_measured(load_calibration(), "nvme-measured")
    if name.endswith(".json") or Path(name).is_file():
        return fit_measured(load_calibration(name), name)
    raise UnknownNameError("storage device", name, [*CATALOGUE, "nvme-measured", "<calibration.json>"])


def seek_ms(spec: DeviceSpec, distance_fraction: float) -> float:
    """HDD seek time for a move across `distance_fraction` of the used address span (sqrt seek curve)."""
    if distance_fraction <= 0.0:
        return 0.0
    return spec.seek_min_ms + (spec.seek_max_ms - spec.seek_min_ms) * math.sqrt(min(distance_fraction, 1.0))
