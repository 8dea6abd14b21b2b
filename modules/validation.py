"""Limits shared by module configs (pure Python): AWS's own limits, with messages that show the fix.

Each is a `modules.limits` limit, declared on the fields it applies to (`Annotated[int, LOG_RETENTION]`);
`check_fargate_size` is the one rule between two fields (CPU and memory) that several configs share.
"""

from __future__ import annotations

import difflib
import re

from modules.limits import Check, OneOf, Pattern

ACCOUNT_ID = Pattern(r"\d{12}", "a 12-digit AWS account id")
REGION = Pattern(r"[a-z]{2}-[a-z]+-\d", "an AWS region such as 'eu-west-1'")
EMAIL = Pattern(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", "an e-mail address")
DNS_NAME = r"([a-z0-9-]+\.)+[a-z]{2,}"

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


FARGATE_CPU = OneOf(tuple(FARGATE_SIZES), name="a Fargate CPU size in units (1024 = 1 vCPU)")


def check_fargate_size(cpu: int, memory: int, cpu_field: str = "cpu", memory_field: str = "memory") -> None:
    """The memory AWS accepts with `cpu` (the CPU size itself is the FARGATE_CPU limit of its field)."""
    if cpu in FARGATE_SIZES and memory not in FARGATE_SIZES[cpu]:
        allowed = FARGATE_SIZES[cpu]
        listed = (
            ", ".join(map(str, allowed))
            if len(allowed) <= 4
            else f"{allowed[0]}-{allowed[-1]} in steps of {allowed[1] - allowed[0]}"
        )
        raise ValueError(
            f"{memory_field} = {memory}: AWS refuses this Fargate size with {cpu_field} = {cpu}; "
            f"allowed memory for {cpu} CPU: {listed} MiB"
        )


# Both services run this until their real images are pushed (the stack itself creates their ECR repositories, so
# a first apply cannot name them yet): busybox runs as any uid, on a read-only root filesystem with only /tmp
# writable, and modules/compute.py gives it a command that serves the health check on the app port (API) or
# stays up (workers). docs/first-deploy.md "Images".
PLACEHOLDER_IMAGE = "public.ecr.aws/docker/library/busybox:1.36"


def _image_problem(image: str) -> str | None:
    pinned = "@sha256:" in image or (":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"))
    if not re.fullmatch(r"[a-z0-9.\-/:_@]+", image) or not pinned:
        return f"must be {IMAGE.description}"
    return None


IMAGE = Check(_image_problem, "an image reference with an explicit tag or digest (not :latest)")


# DB instance classes RDS offers for PostgreSQL 15 (the engine major this project runs), by family.
# Source: Amazon RDS User Guide, "Supported DB engines for DB instance classes", PostgreSQL column, as of
# 2023-06-09 (github.com/awsdocs/amazon-rds-user-guide, doc_source/Concepts.DBInstanceClass.md at 50e7617):
# every class listed with "All PostgreSQL 15 versions" or "PostgreSQL 15.2 and higher" (15.2 is the first
# 15.x RDS shipped). Classes AWS added after that date are refused until added here, with their source.
_SIZES_TO_16X = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_SIZES_TO_24X = (*_SIZES_TO_16X, "24xlarge")
_SIZES_TO_32X = (*_SIZES_TO_24X, "32xlarge")
POSTGRES_15_INSTANCE_FAMILIES: dict[str, tuple[str, ...]] = {
    "m5": _SIZES_TO_24X,
    "m5d": _SIZES_TO_24X,
    "m6g": _SIZES_TO_16X,
    "m6gd": _SIZES_TO_16X,
    "m6i": _SIZES_TO_32X,
    "m7g": _SIZES_TO_16X,
    "r5": _SIZES_TO_24X,
    "r5b": _SIZES_TO_24X,
    "r5d": _SIZES_TO_24X,
    "r6g": _SIZES_TO_16X,
    "r6gd": _SIZES_TO_16X,
    "r6i": _SIZES_TO_32X,
    "r7g": _SIZES_TO_16X,
    "t3": ("micro", "small", "medium", "large", "xlarge", "2xlarge"),
    "t4g": ("micro", "small", "medium", "large", "xlarge", "2xlarge"),
    "x2g": _SIZES_TO_16X,
    "x2idn": ("16xlarge", "24xlarge", "32xlarge"),
    "x2iedn": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "24xlarge", "32xlarge"),
}
POSTGRES_15_INSTANCE_CLASSES = frozenset(
    f"db.{family}.{size}" for family, sizes in POSTGRES_15_INSTANCE_FAMILIES.items() for size in sizes
)


def _postgres_instance_class_problem(value: str) -> str | None:
    if value in POSTGRES_15_INSTANCE_CLASSES:
        return None
    guess = difflib.get_close_matches(value, sorted(POSTGRES_15_INSTANCE_CLASSES), n=1)
    family = value.split(".")[1] if value.count(".") == 2 else ""
    hint = (f"did you mean {guess[0]!r}? " if guess else "") + (
        f"sizes of db.{family}: {', '.join(POSTGRES_15_INSTANCE_FAMILIES[family])}"
        if family in POSTGRES_15_INSTANCE_FAMILIES
        else f"families: {' '.join(sorted(POSTGRES_15_INSTANCE_FAMILIES))}"
    )
    return f"not an instance class RDS offers for PostgreSQL 15; {hint} (table: modules/validation.py)"


POSTGRES_15_CLASS = Check(
    _postgres_instance_class_problem, "an instance class RDS offers for PostgreSQL 15 (table in modules/validation.py)"
)


# The values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

LOG_RETENTION = OneOf(LOG_RETENTION_DAYS, name="a CloudWatch Logs retention")
