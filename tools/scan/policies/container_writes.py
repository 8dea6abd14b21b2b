"""CKV_VIDEO_2: a non-root container with a read-only root filesystem writes only where its user may."""

from __future__ import annotations

import re

from checkov.common.models.enums import CheckCategories
from video_policy_model import Config, Policy, blocks, containers, refers_to, truthy

ROOT_USERS = {"", "0", "root", "0:0", "root:root"}


def ids(user: str) -> tuple[str, str]:
    uid, _, gid = str(user).partition(":")
    return uid, gid or uid


def chowns_for(command: list | str | None, path: str, uid: str) -> bool:
    """The command gives `path` (or a parent or child of it) to `uid`: `chown [-R] uid[:gid] ... path`."""
    text = " ".join(command) if isinstance(command, list) else str(command or "")
    for match in re.finditer(r"chown\s+(?:-\S+\s+)*([^\s;&|]+)((?:\s+[^\s;&|]+)+)", text):
        owner = match.group(1).split(":")[0].split(".")[0]
        paths = [p.rstrip("/") or "/" for p in match.group(2).split()]
        if owner == uid and any(p == path or path.startswith(p + "/") for p in paths):
            return True
    return False


def efs_writable(config: Config, volume: dict, uid: str) -> bool:
    """An EFS volume through an access point whose POSIX user (or created root directory owner) is `uid`."""
    for efs in blocks(volume.get("efs_volume_configuration")):
        for auth in blocks(efs.get("authorization_config")):
            for name, point in config.of("aws_efs_access_point").items():
                if refers_to(auth.get("access_point_id"), "aws_efs_access_point", name):
                    users = [str(u.get("uid")) for u in blocks(point.get("posix_user"))]
                    owners = [
                        str(c.get("owner_uid"))
                        for d in blocks(point.get("root_directory"))
                        for c in blocks(d.get("creation_info"))
                    ]
                    if uid in users or uid in owners:
                        return True
    return False


def prepared_by_init(container: dict, everyone: dict[str, dict], volume: str, uid: str) -> str | None:
    """The name of an init container that `container` waits for (SUCCESS/COMPLETE) which mounts `volume` and
    chowns its mount path to `uid` (as root), else None."""
    for dependency in container.get("dependsOn") or []:
        if dependency.get("condition") not in ("SUCCESS", "COMPLETE"):
            continue
        init = everyone.get(dependency.get("containerName"))
        # An essential container that exits stops the whole task: an init container is not essential.
        if not init or str(init.get("user", "")) not in ROOT_USERS or init.get("essential", True) is not False:
            continue
        for mount in init.get("mountPoints") or []:
            if mount.get("sourceVolume") == volume and not truthy(mount.get("readOnly")):
                command = (init.get("entryPoint") or []) + (init.get("command") or [])
                init_path = str(mount.get("containerPath", "")).rstrip("/") or "/"
                if chowns_for(command, init_path, uid):
                    return init["name"]
    return None


class ReadOnlyContainersWriteOnlyWhereTheyMay(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="A non-root ECS container with a read-only root filesystem writes only to volumes made writable "
            "for its user (chowned by an init container it waits for, or an EFS access point of its uid)",
            id="CKV_VIDEO_2",
            supported_resources=["aws_ecs_task_definition"],
            categories=[CheckCategories.GENERAL_SECURITY],
        )

    def evaluate(self, config, rtype, name, body):
        defined = containers(body)
        if defined is None:
            return None
        everyone = {c.get("name"): c for c in defined}
        volumes = {v.get("name"): v for v in blocks(body.get("volume"))}
        problems = []
        for container in defined:
            uid, _ = ids(container.get("user", ""))
            if str(container.get("user", "")) in ROOT_USERS or not truthy(container.get("readonlyRootFilesystem")):
                continue
            for mount in container.get("mountPoints") or []:
                if truthy(mount.get("readOnly")):
                    continue
                source, path = mount.get("sourceVolume"), str(mount.get("containerPath", "")).rstrip("/") or "/"
                volume = volumes.get(source, {})
                if efs_writable(config, volume, uid) or prepared_by_init(container, everyone, source, uid):
                    continue
                kind = (
                    "EFS volume without an access point for its uid"
                    if volume.get("efs_volume_configuration")
                    else "bind mount (created root:root 0755 on Fargate)"
                )
                problems.append(
                    f"container {container.get('name')} (user {container.get('user')}) writes to "
                    f"{path}: volume {source} is a {kind}, and no init container it waits for "
                    f"(SUCCESS/COMPLETE) chowns it to {uid}"
                )
        return problems


check = ReadOnlyContainersWriteOnlyWhereTheyMay()
