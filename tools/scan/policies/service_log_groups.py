"""CKV_VIDEO_5: every log group a service writes is declared (before the service creates it), encrypted with
KMS and expiring."""

from __future__ import annotations

from checkov.common.models.enums import CheckCategories
from video_policy_model import Config, Policy, depends_on, refers_to, render, truthy

EXECUTION_LOGGING = {"INFO", "ERROR"}


def declared(config: Config, wanted: str) -> str | None:
    """The aws_cloudwatch_log_group named `wanted` (references compared as written), if declared."""
    return next(
        (
            name
            for name, body in config.of("aws_cloudwatch_log_group").items()
            if render(config, body.get("name")) == render(config, wanted)
        ),
        None,
    )


def group_problems(body: dict) -> list[str]:
    problems = []
    if not body.get("kms_key_id"):
        problems.append("no kms_key_id (the group is encrypted only with the service's own key)")
    retention = body.get("retention_in_days")
    if not isinstance(retention, int) or isinstance(retention, bool) or retention <= 0:
        problems.append(f"retention_in_days {retention!r}: kept forever (set a number of days > 0)")
    return problems


def produced(config: Config, producer: tuple[str, str, dict], wanted: str, what: str) -> list[str]:
    """A log group that a service creates itself on first write must be declared, sound, and created first."""
    rtype, name, body = producer
    group = declared(config, wanted)
    if group is None:
        return [
            f"{what} writes to {wanted}, which is not declared: the service creates it unencrypted and "
            "never-expiring (declare an aws_cloudwatch_log_group with kms_key_id and retention_in_days)"
        ]
    problems = [f"{wanted}: {problem}" for problem in group_problems(config.get("aws_cloudwatch_log_group", group))]
    if not depends_on(body, "aws_cloudwatch_log_group", group):
        problems.append(
            f"{rtype}.{name} does not depend on aws_cloudwatch_log_group.{group}: the service may "
            "create the group first and the declared one then fails to create"
        )
    return problems


class ServiceLogGroupsAreDeclaredEncryptedAndExpiring(Policy):
    def __init__(self) -> None:
        super().__init__(
            name="Every log group is encrypted with KMS and expires, and every group a service creates itself "
            "(RDS log exports, API Gateway execution logs) is declared first",
            id="CKV_VIDEO_5",
            supported_resources=["aws_cloudwatch_log_group", "aws_db_instance", "aws_api_gateway_method_settings"],
            categories=[CheckCategories.LOGGING],
        )

    def evaluate(self, config, rtype, name, body):
        if rtype == "aws_cloudwatch_log_group":
            return group_problems(body)
        if rtype == "aws_db_instance":
            identifier = config.resolve(body.get("identifier"))
            exports = body.get("enabled_cloudwatch_logs_exports") or []
            if exports and not identifier:
                return [
                    f"exports {exports} from an instance without a fixed identifier: its log groups "
                    "(/aws/rds/instance/<identifier>/<type>) cannot be declared"
                ]
            return [
                problem
                for export in exports
                for problem in produced(
                    config, (rtype, name, body), f"/aws/rds/instance/{identifier}/{export}", f"log export {export}"
                )
            ]
        settings = body.get("settings") or {}
        if isinstance(settings, list):
            settings = settings[0] if settings else {}
        if str(settings.get("logging_level", "OFF")) not in EXECUTION_LOGGING and not truthy(
            settings.get("data_trace_enabled")
        ):
            return []
        api = body.get("rest_api_id")
        stage = config.resolve(body.get("stage_name"))
        stage_body = next(
            (
                (sname, s)
                for sname, s in config.of("aws_api_gateway_stage").items()
                if refers_to(body.get("stage_name"), "aws_api_gateway_stage", sname)
            ),
            None,
        )
        wanted = f"API-Gateway-Execution-Logs_{api}/{stage}"
        problems = produced(config, (rtype, name, body), wanted, f"execution logging ({body.get('method_path')})")
        if stage_body and problems and problems[-1].startswith(f"{rtype}.{name} does not depend"):
            group = declared(config, wanted)
            if depends_on(stage_body[1], "aws_cloudwatch_log_group", group):
                problems.pop()  # the stage (which the settings follow) is created after the group
        return problems


check = ServiceLogGroupsAreDeclaredEncryptedAndExpiring()
