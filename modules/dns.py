"""DNS: the Route 53 zone an environment's names live in, certificates validated in it, and the alias records
that point the names at the load balancer and the distribution. A building block like `waf`: the load balancer
and the CDN each validate and point their own name, so no certificate waits for a human to edit DNS.

The zone is named by id in config, never looked up: the offline plan has no credentials to read it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResource, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.acm_certificate import AcmCertificate
from cdktf_cdktf_provider_aws.acm_certificate_validation import AcmCertificateValidation
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordAlias
from constructs import Construct

from modules.limits import Doc, Pattern
from modules.validation import DNS_NAME

ZONE_ID = Pattern(r"(Z[A-Z0-9]{1,31})?", "empty or a Route 53 hosted zone id such as 'Z0123456789ABCDEFGHIJ'")
ZONE_NAME = Pattern(rf"({DNS_NAME})?", "empty or a DNS name such as 'dev.example.com'")
# Under each record's `//` key: the zone it is written to. The rehearsal (tools/rehearsal/emulator.py) creates a
# stand-in zone of that name, since the real one lives outside the stack.
ZONE_NOTE = "hosted_zone"


@dataclass(frozen=True, kw_only=True)
class DnsConfig:
    """Where the API and CDN names live. With a zone, the stack writes the ACM validation records and the alias
    records itself; without one, both certificates must already be issued (`certificate_arn` of
    [load_balancer] and [cdn]) and the names are pointed at the outputs by whoever owns the DNS."""

    hosted_zone_id: Annotated[
        str,
        ZONE_ID,
        Doc("public Route 53 zone in this environment's account holding both names; empty: bring issued certificates"),
    ] = ""
    zone_name: Annotated[
        str,
        ZONE_NAME,
        Doc(
            'that zone\'s name, e.g. "dev.video.example.com": load_balancer.domain_name and cdn.domain_name must lie '
            "in it"
        ),
    ] = ""

    def __post_init__(self) -> None:
        if bool(self.hosted_zone_id) != bool(self.zone_name):
            missing = "zone_name" if self.hosted_zone_id else "hosted_zone_id"
            raise ValueError(f"{missing} = '': hosted_zone_id and zone_name name the same zone: set both or neither")

    def holds(self, name: str) -> bool:
        return bool(self.zone_name) and (name == self.zone_name or name.endswith("." + self.zone_name))


def note_zone(record: TerraformResource, config: DnsConfig) -> None:
    record.add_override(f"//.{ZONE_NOTE}", {"id": config.hosted_zone_id, "name": config.zone_name})


def validated_certificate(
    scope: Construct, id_: str, *, domain_name: str, dns: DnsConfig, provider=None
) -> tuple[AcmCertificate, AcmCertificateValidation]:
    """A DNS-validated ACM certificate for one name, its validation record in the zone, and the validation
    resource that waits until ACM has issued it (minutes, once the record resolves)."""
    certificate = AcmCertificate(
        scope,
        id_,
        provider=provider,
        domain_name=domain_name,
        validation_method="DNS",
        key_algorithm="EC_prime256v1",
        lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
    )
    # One name, no alternative names: exactly one validation option.
    option = certificate.domain_validation_options.get(0)
    record = Route53Record(
        scope,
        f"{id_}-validation-record",
        zone_id=dns.hosted_zone_id,
        name=option.resource_record_name,
        type=option.resource_record_type,
        records=[option.resource_record_value],
        ttl=300,
        # ACM derives the record from the name and the account: a replacement certificate of the same name
        # (create_before_destroy) asks for the very same record, which is then updated, not refused.
        allow_overwrite=True,
    )
    note_zone(record, dns)
    validation = AcmCertificateValidation(
        scope,
        f"{id_}-validation",
        provider=provider,
        certificate_arn=certificate.arn,
        validation_record_fqdns=[record.fqdn],
    )
    return certificate, validation


def alias_records(
    scope: Construct,
    id_: str,
    *,
    name: str,
    dns: DnsConfig,
    target_name: str,
    target_zone_id: str,
    ipv6: bool,
    evaluate_target_health: bool,
) -> list[Route53Record]:
    """`name` -> a load balancer or distribution (A, and AAAA where the target serves IPv6)."""
    records = []
    for record_type in ("A", "AAAA") if ipv6 else ("A",):
        record = Route53Record(
            scope,
            f"{id_}-{record_type.lower()}",
            zone_id=dns.hosted_zone_id,
            name=name,
            type=record_type,
            alias=Route53RecordAlias(
                name=target_name, zone_id=target_zone_id, evaluate_target_health=evaluate_target_health
            ),
        )
        note_zone(record, dns)
        records.append(record)
    return records
