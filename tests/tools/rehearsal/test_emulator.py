"""The rehearsal's emulator overrides and the emulator's patches: what the rehearsal changes, each patch tested."""

from __future__ import annotations

import json

import pytest

from tools.rehearsal import emulator


def test_transform_leaves_out_excluded_types_and_what_references_them():
    config = {
        "resource": {
            "aws_budgets_budget": {"budget": {"name": "b"}},
            "aws_sns_topic": {"topic": {"name": "t"}},
            "aws_cloudwatch_metric_alarm": {
                "on-budget": {"alarm_actions": ["${aws_budgets_budget.budget.arn}"]},
                "on-topic": {"alarm_actions": ["${aws_sns_topic.topic.arn}"]},
            },
        },
        "output": {
            "budget": {"value": "${aws_budgets_budget.budget.id}"},
            "topic": {"value": "${aws_sns_topic.topic.arn}"},
        },
    }
    transformed, removed = emulator.transform(config)
    assert removed == ["aws_budgets_budget.budget", "aws_cloudwatch_metric_alarm.on-budget"]
    assert list(transformed["resource"]["aws_cloudwatch_metric_alarm"]) == ["on-topic"]
    assert list(transformed["output"]) == ["topic"]


def test_transform_substitutes_managed_policies_and_drops_the_client_certificate():
    config = {
        "resource": {
            "aws_cloudfront_cache_policy": {"video": {"name": "v"}},
            "aws_api_gateway_client_certificate": {"cert": {}},
            "aws_cloudfront_distribution": {
                "cdn": {"default_cache_behavior": {"cache_policy_id": "${aws_cloudfront_cache_policy.video.id}"}}
            },
            "aws_api_gateway_stage": {
                "stage": {"client_certificate_id": "${aws_api_gateway_client_certificate.cert.id}", "stage_name": "v1"}
            },
        }
    }
    transformed, removed = emulator.transform(config)
    resources = transformed["resource"]
    assert (
        resources["aws_cloudfront_distribution"]["cdn"]["default_cache_behavior"]["cache_policy_id"]
        == emulator.SUBSTITUTED["aws_cloudfront_cache_policy"][0]
    )
    assert resources["aws_api_gateway_stage"]["stage"] == {"stage_name": "v1"}
    assert removed == ["aws_api_gateway_client_certificate.cert", "aws_cloudfront_cache_policy.video"]


def test_transform_stands_in_for_the_configured_zone_and_points_its_records_there():
    from modules.dns import ZONE_NOTE

    assert emulator.ZONE_NOTE == ZONE_NOTE and "aws_route53_zone" in emulator.STAND_INS
    note = {"//": {ZONE_NOTE: {"id": "Z0DEV0000000000000001", "name": "dev.example.com"}}}
    config = {
        "resource": {
            "aws_route53_record": {
                "api": {**note, "zone_id": "Z0DEV0000000000000001", "name": "api.dev.example.com", "type": "A"},
                "validation": {**note, "zone_id": "Z0DEV0000000000000001", "name": "${x}", "type": "CNAME"},
                "elsewhere": {"zone_id": "Z0OTHER", "name": "other.example.org", "type": "A"},
            }
        }
    }
    transformed, removed = emulator.transform(config)
    resources = transformed["resource"]
    assert resources["aws_route53_zone"] == {
        "emulator-zone-1": {
            "name": "dev.example.com",
            "force_destroy": True,
            "comment": "emulator stand-in for Z0DEV0000000000000001",
        }
    }
    records = resources["aws_route53_record"]
    assert (
        records["api"]["zone_id"] == records["validation"]["zone_id"] == "${aws_route53_zone.emulator-zone-1.zone_id}"
    )
    assert records["elsewhere"]["zone_id"] == "Z0OTHER" and removed == []


@pytest.fixture(scope="module")
def emulated(tmp_path_factory, synth_dir):
    """The real synth of the session, emulated as the rehearsal does: a copy and its override files."""
    target = tmp_path_factory.mktemp("emulated") / "out"
    left_out = emulator.emulate(synth_dir, target, "https://127.0.0.1:1")
    read = lambda stack, name="cdk.tf.json": json.loads((target / "stacks" / stack / name).read_text())
    return read, left_out


def test_the_rehearsal_stands_in_for_each_environment_zone(emulated):
    read, _ = emulated
    stack = read("dev")
    assert [z["name"] for z in stack["resource"]["aws_route53_zone"].values()] == ["dev.video.example.com"]
    assert {r["zone_id"] for r in stack["resource"]["aws_route53_record"].values()} == {
        "${aws_route53_zone.emulator-zone-1.zone_id}"
    }
    override = read("dev", emulator.OVERRIDE)
    assert [p.get("alias") for p in override["provider"]["aws"]] == [p.get("alias") for p in stack["provider"]["aws"]]
    assert all(p["endpoints"][0]["route53"] == "https://127.0.0.1:1" for p in override["provider"]["aws"])


def test_the_override_lifts_destroy_protection_and_leaves_the_copy_as_synthesized():
    config = {
        "resource": {
            "aws_db_instance": {"db": {"deletion_protection": True, "lifecycle": {"prevent_destroy": True}}},
            "aws_s3_bucket": {"b": {"bucket": "x", "force_destroy": False}},
            "aws_sqs_queue": {"q": {"name": "q"}},
        }
    }
    override = emulator.override(config, "dev", "https://127.0.0.1:1")
    assert override["resource"] == {
        "aws_db_instance": {"db": {"deletion_protection": False, "lifecycle": {"prevent_destroy": False}}},
        "aws_s3_bucket": {"b": {"force_destroy": True}},
    }
    assert config["resource"]["aws_db_instance"]["db"]["deletion_protection"] is True


def test_the_override_points_the_s3_backend_at_the_emulator_and_keeps_the_rest_of_it(emulated):
    read, _ = emulated
    backend = read("dev")["terraform"]["backend"]["s3"]
    overridden = read("dev", emulator.OVERRIDE)["terraform"]["backend"]["s3"]
    assert {k: v for k, v in overridden.items() if k in backend} == backend  # an override's backend replaces it all
    assert overridden["endpoints"]["s3"] == "https://127.0.0.1:1" and overridden["use_path_style"] is True
    assert "terraform" not in read("bootstrap-dev", emulator.OVERRIDE)  # local state


def test_bootstrap_stacks_reach_their_account_as_its_administrator(emulated):
    """Only the bootstraps assume the stand-in administrator; environments run as the deploy role."""
    read, _ = emulated
    roles = lambda stack: [
        p.get("assume_role", [{}])[0].get("role_arn") for p in read(stack, emulator.OVERRIDE)["provider"]["aws"]
    ]
    assert roles("bootstrap-dev") == [emulator.admin_role("111111111111")]
    assert set(roles("state-backend")) == {emulator.admin_role("000000000000")}
    assert set(roles("dev")) == {None}
    assert all("assume_role" not in p for p in read("state-backend")["provider"]["aws"])


def test_what_the_emulator_cannot_serve_is_left_out_of_the_copy_only(emulated, stacks):
    read, left_out = emulated
    assert left_out["dev"]
    # The account's controls moto cannot serve (docs/compliance.md); the rest of the bootstrap is applied.
    assert sorted(address.split(".")[0] for address in left_out["bootstrap-dev"]) == [
        "aws_computeoptimizer_enrollment_status",
        "aws_securityhub_standards_subscription",
    ]
    for stack in ("dev", "bootstrap-dev"):
        for address in left_out[stack]:
            rtype, name = address.split(".", 1)
            assert name in stacks[stack]["resource"][rtype] and name not in read(stack)["resource"].get(rtype, {})


def test_the_real_synth_is_not_in_emulator_mode(stacks):
    for name, stack in stacks.items():
        for provider in stack["provider"]["aws"]:
            assert "endpoints" not in provider and "insecure" not in provider, name


@pytest.fixture(scope="module")
def patched():
    from tools.rehearsal.emulator_server import apply_patches

    return apply_patches()


def test_patches_are_pinned_to_the_moto_version(patched):
    import moto

    from tools.rehearsal.emulator_server import MOTO_VERSION, PATCHES

    assert moto.__version__ == MOTO_VERSION and patched == list(PATCHES)


TLS_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
)


def test_patched_bool_condition_and_deny_evaluation(patched):
    from moto.iam.access_control import IAMPolicy, PermissionResult

    policy = IAMPolicy(TLS_ONLY)
    assert (
        policy.is_action_permitted(
            "s3:GetObject", "arn:aws:s3:::b/k", incoming_condition_values={"aws:SecureTransport": "true"}
        )
        == PermissionResult.NEUTRAL
    )
    assert (
        policy.is_action_permitted(
            "s3:GetObject", "arn:aws:s3:::b/k", incoming_condition_values={"aws:SecureTransport": "false"}
        )
        == PermissionResult.DENIED
    )


def test_patched_bucket_policy_sees_tls_and_delete_markers_dispose(patched):
    from moto.iam.access_control import PermissionResult
    from moto.s3 import models

    bucket = models.FakeBucket("b", account_id="123456789012", region_name="eu-west-1")
    bucket.policy = TLS_ONLY.encode()
    assert bucket.get_permission("s3:GetObject", "arn:aws:s3:::b/k") == PermissionResult.NEUTRAL
    assert models.FakeDeleteMarker.dispose is not None
    models.FakeDeleteMarker.dispose(object())  # must not raise


def test_patched_method_settings_unescape_the_path(patched):
    from moto.apigateway import models

    stage = models.Stage.__new__(models.Stage)
    stage.method_settings = {}
    # What provider 5.100.0 sends (captured from a real apply against the emulator).
    stage.apply_operations(
        [
            {"op": "replace", "path": "/videos/{id}/GET/caching/enabled", "value": "true"},
            {"op": "replace", "path": "/videos/GET/caching/ttlInSeconds", "value": "60"},
        ]
    )
    assert sorted(stage.method_settings) == ["videos/GET", "videos/{id}/GET"]
    assert stage.method_settings["videos/{id}/GET"]["cachingEnabled"] is True
    assert stage.method_settings["videos/GET"]["cacheTtlInSeconds"] == 60


def test_patched_autoscaling_keeps_tags_per_arn(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("dynamodb", region_name="eu-west-1").create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        )
        client = boto3.client("application-autoscaling", region_name="eu-west-1")
        arn = client.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId="table/t",
            ScalableDimension="dynamodb:table:ReadCapacityUnits",
            MinCapacity=1,
            MaxCapacity=2,
            Tags={"Environment": "dev"},
        )["ScalableTargetARN"]
        client.tag_resource(ResourceARN=arn, Tags={"Project": "video-ingest"})
        client.untag_resource(ResourceARN=arn, TagKeys=["Environment"])
        assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Project": "video-ingest"}


def test_patched_cloudfront_deletes_key_groups(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("cloudfront", region_name="us-east-1")
        group = client.create_key_group(KeyGroupConfig={"Name": "signers", "Items": ["K1"]})["KeyGroup"]
        client.delete_key_group(Id=group["Id"], IfMatch="any")
        assert client.list_key_groups()["KeyGroupList"].get("Items", []) == []


def test_patched_acm_describes_the_requested_key_algorithm(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("acm", region_name="eu-west-1")
        ec = client.request_certificate(
            DomainName="a.example.com", ValidationMethod="DNS", KeyAlgorithm="EC_prime256v1"
        )["CertificateArn"]
        plain = client.request_certificate(DomainName="b.example.com", ValidationMethod="DNS")["CertificateArn"]
        assert client.describe_certificate(CertificateArn=ec)["Certificate"]["KeyAlgorithm"] == "EC_prime256v1"
        assert client.describe_certificate(CertificateArn=plain)["Certificate"]["KeyAlgorithm"] == "RSA_2048"


def test_patched_cloudfront_accepts_a_default_behaviour_on_an_origin_group(patched):
    import boto3
    from moto import mock_aws

    origin = lambda name: {
        "Id": name,
        "DomainName": f"{name}.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    config = {
        "CallerReference": "failover",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 2, "Items": [origin("primary"), origin("replica")]},
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "failover",
                    "FailoverCriteria": {"StatusCodes": {"Quantity": 1, "Items": [503]}},
                    "Members": {"Quantity": 2, "Items": [{"OriginId": "primary"}, {"OriginId": "replica"}]},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "failover",
            "ViewerProtocolPolicy": "https-only",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    with mock_aws():
        client = boto3.client("cloudfront", region_name="us-east-1")
        created = client.create_distribution(DistributionConfig=config)["Distribution"]
        read = client.get_distribution_config(Id=created["Id"])["DistributionConfig"]
        assert read["DefaultCacheBehavior"]["TargetOriginId"] == "failover"
        assert read["OriginGroups"]["Items"][0]["Id"] == "failover"
        config["DefaultCacheBehavior"]["TargetOriginId"] = "nowhere"
        config["CallerReference"] = "broken"
        with pytest.raises(client.exceptions.NoSuchOrigin):
            client.create_distribution(DistributionConfig=config)


def test_patched_security_group_rules_keep_the_description_of_a_group_reference(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        app, db = (
            ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"] for name in ("app", "db")
        )
        [rule] = ec2.authorize_security_group_ingress(
            GroupId=db,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 5432,
                    "ToPort": 5432,
                    "UserIdGroupPairs": [{"GroupId": app, "Description": "app to database"}],
                }
            ],
        )["SecurityGroupRules"]
        [read] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])[
            "SecurityGroupRules"
        ]
        assert read["Description"] == "app to database"
        assert read["ReferencedGroupInfo"]["GroupId"] == app


def test_patched_ecs_services_keep_strategy_deployment_and_grace_period(patched):
    import boto3
    from moto import mock_aws

    strategy = [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]
    deployment = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    with mock_aws():
        ecs = boto3.client("ecs", region_name="eu-west-1")
        ecs.create_cluster(clusterName="c")
        ecs.register_task_definition(
            family="t", containerDefinitions=[{"name": "app", "image": "nginx:1", "memory": 512}]
        )
        ecs.create_service(
            cluster="c",
            serviceName="s",
            taskDefinition="t",
            desiredCount=1,
            capacityProviderStrategy=strategy,
            deploymentConfiguration=deployment,
            healthCheckGracePeriodSeconds=60,
            availabilityZoneRebalancing="DISABLED",
            enableECSManagedTags=True,
        )
        [service] = ecs.describe_services(cluster="c", services=["s"])["services"]
        assert service["capacityProviderStrategy"] == strategy
        assert service["deploymentConfiguration"] == deployment
        assert service["healthCheckGracePeriodSeconds"] == 60
        assert service["availabilityZoneRebalancing"] == "DISABLED" and service["enableECSManagedTags"] is True
        ecs.update_service(cluster="c", service="s", healthCheckGracePeriodSeconds=90)
        [service] = ecs.describe_services(cluster="c", services=["s"])["services"]
        assert service["healthCheckGracePeriodSeconds"] == 90 and service["capacityProviderStrategy"] == strategy


def test_patched_api_gateway_integration_keeps_cache_key_parameters(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        api = boto3.client("apigateway", region_name="eu-west-1")
        rest_api = api.create_rest_api(name="videos")["id"]
        root = api.get_resources(restApiId=rest_api)["items"][0]["id"]
        videos = api.create_resource(restApiId=rest_api, parentId=root, pathPart="videos")["id"]
        video = api.create_resource(restApiId=rest_api, parentId=videos, pathPart="{id}")["id"]
        api.put_method(
            restApiId=rest_api,
            resourceId=video,
            httpMethod="GET",
            authorizationType="NONE",
            requestParameters={"method.request.path.id": True},
        )
        put = api.put_integration(
            restApiId=rest_api,
            resourceId=video,
            httpMethod="GET",
            type="HTTP_PROXY",
            integrationHttpMethod="GET",
            uri="https://example.com/videos/{id}",
            cacheKeyParameters=["method.request.path.id"],
        )
        read = api.get_integration(restApiId=rest_api, resourceId=video, httpMethod="GET")
        assert put["cacheKeyParameters"] == read["cacheKeyParameters"] == ["method.request.path.id"]


def test_patched_cloudfront_returns_the_config_as_given(patched):
    import boto3
    from moto import mock_aws

    config = {
        "CallerReference": "as-given",
        "Comment": "",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "videos",
                    "DomainName": "videos.s3.eu-west-1.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                    "OriginAccessControlId": "E2OAC",
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "videos",
            "ViewerProtocolPolicy": "https-only",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
        "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
    }
    with mock_aws():
        client = boto3.client("cloudfront", region_name="us-east-1")
        created = client.create_distribution(DistributionConfig=config)["Distribution"]
        read = client.get_distribution_config(Id=created["Id"])["DistributionConfig"]
        assert "ForwardedValues" not in read["DefaultCacheBehavior"]
        assert read["Origins"]["Items"][0]["OriginAccessControlId"] == "E2OAC"
        assert "SSLSupportMethod" not in read["ViewerCertificate"]
        assert read["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
        config.update(
            CallerReference="acm",
            ViewerCertificate={
                "ACMCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/c",
                "SSLSupportMethod": "sni-only",
                "MinimumProtocolVersion": "TLSv1.2_2021",
            },
        )
        created = client.create_distribution(DistributionConfig=config)["Distribution"]
        read = client.get_distribution_config(Id=created["Id"])["DistributionConfig"]["ViewerCertificate"]
        assert read["CloudFrontDefaultCertificate"] is False and read["SSLSupportMethod"] == "sni-only"


def test_second_plan_differences_are_leaf_paths_with_both_values():
    from tools.rehearsal.harness import changed_paths

    before = {"name": "q", "rule": [{"destination": {"bucket": "a"}, "status": "Enabled"}], "tags": {"A": "1"}}
    after = {"name": "q", "rule": [{"destination": {"bucket": "b"}, "status": "Enabled"}], "tags": {"A": "1", "B": "2"}}
    assert changed_paths(before, after) == {"rule.destination.bucket": ("a", "b"), "tags.B": (None, "2")}
    assert changed_paths({"list": [1, 2]}, {"list": [1]}) == {"list": ([1, 2], [1])}
    assert changed_paths(before, before) == {}


def test_patched_rds_parameters_are_the_users_and_sqs_redrive_policy_is_compact(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        rds = boto3.client("rds", region_name="eu-west-1")
        rds.create_db_parameter_group(DBParameterGroupName="p", DBParameterGroupFamily="postgres15", Description="d")
        rds.modify_db_parameter_group(
            DBParameterGroupName="p",
            Parameters=[{"ParameterName": "log_connections", "ParameterValue": "1", "ApplyMethod": "immediate"}],
        )
        [parameter] = rds.describe_db_parameters(DBParameterGroupName="p")["Parameters"]
        assert parameter["Source"] == "user" and parameter["ParameterValue"] == "1"
        sqs = boto3.client("sqs", region_name="eu-west-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(
            QueueName="q",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
        )["QueueUrl"]
        policy = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
        assert policy == f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":5}}'


def test_patched_rds_instances_have_their_own_resource_ids(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        rds = boto3.client("rds", region_name="eu-west-1")
        rds.create_db_instance(
            DBInstanceIdentifier="primary",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="app",
            MasterUserPassword="not-a-real-password",
            AllocatedStorage=20,
        )
        rds.create_db_instance_read_replica(DBInstanceIdentifier="replica", SourceDBInstanceIdentifier="primary")
        ids = {db["DBInstanceIdentifier"]: db["DbiResourceId"] for db in rds.describe_db_instances()["DBInstances"]}
        assert len(set(ids.values())) == 2
        found = rds.describe_db_instances(Filters=[{"Name": "dbi-resource-id", "Values": [ids["replica"]]}])
        assert [db["DBInstanceIdentifier"] for db in found["DBInstances"]] == ["replica"]


def test_patched_rds_instance_gets_awss_default_ca_unless_it_names_one(patched):
    import boto3
    from moto import mock_aws

    from tools.rehearsal.emulator_server import DEFAULT_RDS_CA

    with mock_aws():
        rds = boto3.client("rds", region_name="eu-west-1")
        common = dict(
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="app",
            MasterUserPassword="not-a-real-password",
            AllocatedStorage=20,
        )
        created = rds.create_db_instance(DBInstanceIdentifier="default", **common)["DBInstance"]
        named = rds.create_db_instance(
            DBInstanceIdentifier="named", CACertificateIdentifier="rds-ca-ecc384-g1", **common
        )["DBInstance"]
        assert created["CACertificateIdentifier"] == DEFAULT_RDS_CA == "rds-ca-rsa2048-g1"
        assert named["CACertificateIdentifier"] == "rds-ca-ecc384-g1"


def test_patched_rds_replica_of_a_multi_az_primary_starts_single_az_without_backups(patched):
    import boto3
    from moto import mock_aws

    with mock_aws():
        rds = boto3.client("rds", region_name="eu-west-1")
        rds.create_db_instance(
            DBInstanceIdentifier="primary",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="app",
            MasterUserPassword="not-a-real-password",
            AllocatedStorage=20,
            MultiAZ=True,
            BackupRetentionPeriod=30,
        )
        replica = rds.create_db_instance_read_replica(
            DBInstanceIdentifier="replica", SourceDBInstanceIdentifier="primary"
        )["DBInstance"]
        assert replica["MultiAZ"] is False and replica["BackupRetentionPeriod"] == 0
        [primary] = rds.describe_db_instances(DBInstanceIdentifier="primary")["DBInstances"]
        assert primary["MultiAZ"] is True and primary["BackupRetentionPeriod"] == 30


def test_patched_backup_lists_the_tags_of_a_vault(patched):
    from moto import mock_aws
    from moto.backup.responses import BackupResponse

    with mock_aws():
        import boto3

        backup = boto3.client("backup", region_name="eu-west-1")
        arn = backup.create_backup_vault(BackupVaultName="v", BackupVaultTags={"Project": "video-ingest"})[
            "BackupVaultArn"
        ]
        assert backup.list_tags(ResourceArn=arn)["Tags"] == {"Project": "video-ingest"}
        response = BackupResponse.__new__(BackupResponse)  # the provider's path has no trailing slash
        response.path, response.current_account, response.region = (
            f"/tags/{arn.replace(':', '%3A')}",
            "123456789012",
            "eu-west-1",
        )
        assert json.loads(response.list_tags())["Tags"] == {"Project": "video-ingest"}


def test_patched_securityhub_keeps_its_configuration(patched):
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    with mock_aws():
        hub = boto3.client("securityhub", region_name="eu-west-1")
        with pytest.raises(ClientError, match="InvalidAccessException"):
            hub.update_security_hub_configuration(AutoEnableControls=False)
        hub.enable_security_hub(EnableDefaultStandards=False)
        hub.update_security_hub_configuration(AutoEnableControls=False, ControlFindingGenerator="STANDARD_CONTROL")
        described = hub.describe_hub()
        assert (described["AutoEnableControls"], described["ControlFindingGenerator"]) == (False, "STANDARD_CONTROL")
        hub.update_security_hub_configuration(AutoEnableControls=True)
        assert hub.describe_hub()["AutoEnableControls"] is True


def _call(app, method: str = "POST", invocation: str | None = "id-1", attempt: int = 1):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/", "HTTP_AMZ_SDK_REQUEST": f"attempt={attempt}; max=3"}
    if invocation:
        environ["HTTP_AMZ_SDK_INVOCATION_ID"] = invocation
    seen = {}
    body = b"".join(app(environ, lambda status, headers, exc_info=None: seen.update(status=status)))
    return seen["status"], body


def test_a_retried_request_gets_the_first_answer_instead_of_running_twice():
    import threading
    import time

    from tools.rehearsal.emulator_server import ReplayRetries

    calls = []

    def moto(environ, start_response):
        calls.append(environ["REQUEST_METHOD"])
        time.sleep(0.05)
        created = len(calls) == 1
        start_response("200 OK" if created else "400 Bad Request", [])
        return [b"created" if created else b"AlreadyExists"]

    app = ReplayRetries(moto)
    racing = []
    retry = threading.Thread(target=lambda: racing.append(_call(app, attempt=2)))
    first = threading.Thread(target=lambda: racing.append(_call(app)))
    first.start()
    time.sleep(0.01)
    retry.start()  # arrives while the first attempt still runs: waits, then gets its answer
    first.join(), retry.join()
    assert racing == [("200 OK", b"created")] * 2 and calls == ["POST"]
    assert _call(app, attempt=3) == ("200 OK", b"created") and calls == ["POST"]
    assert _call(app, invocation="id-2") == ("400 Bad Request", b"AlreadyExists")  # another operation runs
    assert _call(app, method="GET") and _call(app, invocation=None) and calls == ["POST", "POST", "GET", "POST"]


def test_a_server_error_is_not_replayed():
    from tools.rehearsal.emulator_server import ReplayRetries

    answers = iter([("500 Internal Server Error", b"boom"), ("200 OK", b"fine")])

    def moto(environ, start_response):
        status, body = next(answers)
        start_response(status, [])
        return [body]

    app = ReplayRetries(moto)
    assert _call(app) == ("500 Internal Server Error", b"boom")
    assert _call(app, attempt=2) == ("200 OK", b"fine")


def _token(sub: str) -> str:
    import base64

    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
    claims = {"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com", "sub": sub}
    return f"{encode({'alg': 'RS256'})}.{encode(claims)}.sig"


def _client(service: str, credentials: dict | None = None, region: str = "eu-west-1"):
    """A boto3 client with moto's test keys, or with the keys of an assumed session's `credentials`."""
    import boto3

    keys = (
        {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if credentials is None
        else {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    )
    return boto3.client(service, region_name=region, **keys)


def _refused(call) -> str:
    """The message of the AccessDenied the call fails with."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as error:
        call()
    assert error.value.response["Error"]["Code"] == "AccessDenied"
    return error.value.response["Error"]["Message"]


def _deploy_and_state_roles():
    """Under mock_aws, as each account's administrator: the dev deploy role (111111111111), trusting GitHub's
    tokens for the dev environment, and a state role (000000000000) trusting only that deploy role.
    Returns (env_iam, state_iam, deploy, state): the two IAM clients and the two role ARNs."""
    from modules.policy import account_trust, web_identity_trust
    from tools.rehearsal.emulator import admin_role

    as_admin = lambda account: _client("sts").assume_role(RoleArn=admin_role(account), RoleSessionName="admin")[
        "Credentials"
    ]
    env_iam, state_iam = _client("iam", as_admin("111111111111")), _client("iam", as_admin("000000000000"))
    provider = env_iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["0" * 40],
    )["OpenIDConnectProviderArn"]
    deploy = env_iam.create_role(
        RoleName="video-ingest-dev-deploy",
        AssumeRolePolicyDocument=web_identity_trust(
            provider, audience="sts.amazonaws.com", subjects=["repo:o/r:environment:dev"]
        ),
    )["Role"]["Arn"]
    state = state_iam.create_role(
        RoleName="state",
        AssumeRolePolicyDocument=account_trust(["111111111111"], condition={"ArnEquals": {"aws:PrincipalArn": deploy}}),
    )["Role"]["Arn"]
    return env_iam, state_iam, deploy, state


def test_patched_sts_assumes_only_existing_roles_that_admit_the_caller(patched):
    """Stricter than moto: a missing role, a trust that does not admit the caller, or a caller whose own
    policy does not allow the assume are all refused, as in AWS."""
    from moto import mock_aws

    from modules.policy import account_trust, policy, statement

    with mock_aws():
        env_iam, state_iam, deploy, state = _deploy_and_state_roles()
        sts = _client("sts")

        web = lambda role, sub: sts.assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="ci", WebIdentityToken=_token(sub)
        )["Credentials"]
        assert "does not trust a token for 'repo:o/r:pull_request'" in _refused(
            lambda: web(deploy, "repo:o/r:pull_request")
        )
        assert "does not exist" in _refused(
            lambda: web("arn:aws:iam::111111111111:role/nobody", "repo:o/r:environment:dev")
        )
        session = web(deploy, "repo:o/r:environment:dev")
        assume_state = lambda: _client("sts", session).assume_role(RoleArn=state, RoleSessionName="state")
        assert "no policy of its own allows sts:AssumeRole" in _refused(assume_state)
        env_iam.put_role_policy(
            RoleName="video-ingest-dev-deploy",
            PolicyName="state",
            PolicyDocument=policy(statement("ReachState", ["sts:AssumeRole"], [state])),
        )
        assert assume_state()["Credentials"]["AccessKeyId"]
        state_iam.update_assume_role_policy(
            RoleName="state",
            PolicyDocument=account_trust(
                ["111111111111"], condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/other"}}
            ),
        )
        assert "is not trusted by" in _refused(assume_state)
