"""What this machine has to give: memory the kernel says can be used, read where training and conversion
plan around it."""

from pathlib import Path

MEMINFO = Path("/proc/meminfo")


def available_memory(meminfo: Path = MEMINFO) -> float | None:
    """Bytes the kernel says can be used without swapping (MemAvailable); None where it cannot tell."""
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
