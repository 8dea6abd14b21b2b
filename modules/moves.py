"""Renaming or moving a construct without replacing what it created: Terraform `moved` blocks.

A resource's Terraform address is `<type>.<logical id>`, and cdktf derives the logical id from the
construct path inside the stack (`storage/videos/bucket` -> `storage_videos_bucket_3CE3C090`). Renaming
a construct id, or moving a construct under another parent, changes the address of every resource
under it, and Terraform then destroys the old resources and creates new ones (terraform-cdk #219) —
for a bucket or a database, the data goes with them. A `moved` block tells Terraform that the old and
the new address are the same object, so the state follows the rename and nothing is replaced.

    self.video_bucket = SecureBucket(self, "video-store", ...)   # was SecureBucket(self, "videos", ...)
    moved_from(self.video_bucket, "storage/videos")              # its path in the stack before

`moved_from` calls cdktf's `TerraformResource.move_from_id` (cdktf 0.21) for every resource under the
construct, with the address that resource had at the old path; synthesis then writes one
`moved {from, to}` block per resource into the stack's cdk.tf.json. cdktf's other moves:
`move_to_id("aws_s3_bucket.x")` on the old resource (it then leaves the configuration: use it for a
resource whose code is being deleted), and `add_move_target("name")` + `move_to("name")` (both
constructs present at the same time). Keep the call until every environment has applied the move
(prod included); then it can go. `tools.review.synth_diff` reports a covered move as a move, and fails the
pull request when a stateful resource changes address without one.
"""

from __future__ import annotations

import hashlib
import re

from cdktf import TerraformResource, TerraformStack
from constructs import Construct

_HIDDEN = "Default"  # left out of the path entirely (cdktf's makeUniqueId)
_HIDDEN_FROM_HUMAN = "Resource"  # in the hash, not in the readable part
_DISALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def logical_id(path: str | list[str]) -> str:
    """The logical id cdktf gives the construct at `path` (inside the stack, e.g. "storage/videos/bucket");
    the same algorithm as cdktf 0.21's `makeUniqueId` (tested against every resource of every stack)."""
    components = [c for c in (path.split("/") if isinstance(path, str) else path) if c and c != _HIDDEN]
    if not components:
        raise ValueError("logical_id: empty construct path")
    if len(components) == 1 and len(_DISALLOWED.sub("", components[0])) <= 255:
        return _DISALLOWED.sub("", components[0])
    digest = hashlib.md5("/".join(components).encode()).hexdigest()[:8].upper()
    human: list[str] = []
    for component in components:
        if not human or not human[-1].endswith(component):
            human.append(component)
    readable = "_".join(_DISALLOWED.sub("", c) for c in human if c != _HIDDEN_FROM_HUMAN)[:240]
    return f"{readable}_{digest}"


def stack_path(construct: Construct) -> str:
    """The construct's path inside its stack ("storage/videos")."""
    stack = TerraformStack.of(construct).node.path
    return construct.node.path[len(stack) :].lstrip("/")


def moved_from(construct: Construct, old_path: str) -> list[tuple[str, str]]:
    """Declares that every resource under `construct` used to live under `old_path` (its path inside the
    stack before the rename or move). Call it once the construct has created its resources. Returns the
    (from, to) addresses; raises if there is no resource to move or the path did not change."""
    new_root = stack_path(construct).split("/")
    old_root = [c for c in old_path.strip("/").split("/") if c]
    moves = []
    for node in construct.node.find_all():
        if not isinstance(node, TerraformResource):
            continue
        relative = stack_path(node).split("/")[len(new_root) :]
        if logical_id(new_root + relative) != node.friendly_unique_id:
            raise ValueError(
                f"{node.node.path}: its logical id was overridden; call move_from_id('<type>.<old id>') on it directly"
            )
        source = f"{node.terraform_resource_type}.{logical_id(old_root + relative)}"
        target = f"{node.terraform_resource_type}.{node.friendly_unique_id}"
        if source == target:
            raise ValueError(f"moved_from({stack_path(construct)!r}, {old_path!r}): the address does not change")
        node.move_from_id(source)
        moves.append((source, target))
    if not moves:
        raise ValueError(f"moved_from: no resource under {construct.node.path!r}")
    return moves
