"""Validators shared by module configs (pure Python): AWS's own limits, with messages that show the fix."""
from __future__ import annotations

import re

# Fargate task sizes AWS accepts: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


def check_fargate_size(cpu: int, memory: int, cpu_field: str = "cpu", memory_field: str = "memory") -> None:
    if cpu not in FARGATE_SIZES:
        raise ValueError(f"{cpu_field} = {cpu}: not a Fargate CPU size; allowed: "
                         f"{', '.join(map(str, FARGATE_SIZES))} (units, 1024 = 1 vCPU)")
    if memory not in FARGATE_SIZES[cpu]:
        allowed = FARGATE_SIZES[cpu]
        listed = ", ".join(map(str, allowed)) if len(allowed) <= 4 else f"{allowed[0]}-{allowed[-1]} in steps of {allowed[1] - allowed[0]}"
        raise ValueError(f"{memory_field} = {memory}: AWS refuses this Fargate size with {cpu_field} = {cpu}; "
                         f"allowed memory for {cpu} CPU: {listed} MiB")


def check_image(name: str, image: str) -> None:
    pinned = "@sha256:" in image or (":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"))
    if not re.fullmatch(r"[a-z0-9.\-/:_@]+", image) or not pinned:
        raise ValueError(f"{name} = {image!r}: must be an image reference with an explicit tag or digest (not :latest)")


# The values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)


def check_log_retention(name: str, days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{name} = {days}: must be a CloudWatch Logs retention: {', '.join(map(str, LOG_RETENTION_DAYS))}")
