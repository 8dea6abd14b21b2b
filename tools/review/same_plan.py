#!/usr/bin/env python3
"""Does the plan about to be applied make exactly the changes the reviewers saw?

    python -m tools.review.same_plan reviewed-plan.json apply-plan.json     # exit 0: same; 1: they differ (listed)

promote.yml's plan job plans as the read-only refresh role (no lock) for the reviewers; its apply job, in the
reviewed GitHub environment, plans again as the deploy role with the lock held and applies that plan only when
its resource changes (address, actions, planned values) equal the reviewed ones. Anything that moved in between
(another apply, drift) fails the job instead of reaching the account unreviewed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def changes(plan: dict) -> dict[str, dict]:
    """address -> what the plan does to it; no-ops left out."""
    return {
        change["address"]: {key: change["change"].get(key) for key in ("actions", "after", "after_unknown")}
        for change in plan.get("resource_changes", [])
        if change["change"]["actions"] not in (["no-op"], ["read"])
    }


def differences(reviewed: dict, applied: dict) -> list[str]:
    before, after = changes(reviewed), changes(applied)
    found = []
    for address in sorted(set(before) | set(after)):
        if address not in after:
            found.append(f"{address}: reviewed {before[address]['actions']}, no longer planned")
        elif address not in before:
            found.append(f"{address}: {after[address]['actions']} not in the reviewed plan")
        elif before[address] != after[address]:
            found.append(f"{address}: planned change differs from the reviewed one")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    reviewed, applied = (json.loads(Path(path).read_text()) for path in args)
    found = differences(reviewed, applied)
    for line in found:
        print(f"same-plan: {line}", file=sys.stderr)
    if found:
        print(f"same-plan: {len(found)} change(s) differ from the reviewed plan: re-run the promotion", file=sys.stderr)
        return 1
    print(f"same-plan: the {len(changes(applied))} planned change(s) are the reviewed ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
