"""`make cost`: the monthly estimate from the synthesized stack, the offline price table, [cost.usage]."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env
from tools.cost.cost import estimate, spot_share
from tools.cost.prices import HOURS_PER_MONTH, PRICES_DATE, price


def _usage():
    from environments.config import load_environment

    return load_environment("dev").cost.usage


def test_one_nat_gateway_per_zone_raises_dev_by_the_nat_hours_of_two_more_gateways(stacks, synth_dev_with):
    per_zone = synth_dev_with("network", "one_nat_gateway_per_az = true", drop=("one_nat_gateway_per_az",))
    assert len(per_zone["resource"]["aws_nat_gateway"]) == 3 and len(stacks["dev"]["resource"]["aws_nat_gateway"]) == 1
    before, after = estimate("dev", stacks["dev"], _usage()), estimate("dev", per_zone, _usage())
    two_gateways = 2 * HOURS_PER_MONTH * price("eu-west-1", "nat_gateway_hour")
    assert after.services["NAT gateways"] - before.services["NAT gateways"] == pytest.approx(two_gateways, abs=1e-9)
    # Each gateway's Elastic IP is a public IPv4 address, billed by the hour too: the only other line that moves.
    two_addresses = 2 * HOURS_PER_MONTH * price("eu-west-1", "public_ipv4_hour")
    assert after.total - before.total == pytest.approx(two_gateways + two_addresses, abs=1e-9)
    moved = {s for s in after.services if abs(after.services[s] - before.services.get(s, 0)) > 1e-9}
    assert moved == {"NAT gateways", "Public IPv4"}


def test_the_review_comment_shows_that_delta(stacks, synth_dev_with):
    from tools.review.review_render import Review, render

    per_zone = synth_dev_with("network", "one_nat_gateway_per_az = true", drop=("one_nat_gateway_per_az",))
    before, after = estimate("dev", stacks["dev"], _usage()), estimate("dev", per_zone, _usage())
    costs = {
        "dev": {"base": before.as_json(), "head": after.as_json(), "threshold_usd": 50, "prices_date": PRICES_DATE}
    }
    text, _ = render(Review("a", "b", stacks, dict(stacks, dev=per_zone), costs=costs))
    delta = after.total - before.total
    assert f"| dev | ${before.total:,.2f} | ${after.total:,.2f} | +${delta:,.2f} |" in text
    assert f"NAT gateways +${2 * HOURS_PER_MONTH * price('eu-west-1', 'nat_gateway_hour'):,.2f}" in text
    assert text.splitlines()[0].startswith(":moneybag: **Cost up**") and "dev +$" in text.splitlines()[0]


def test_fargate_spot_share_follows_the_capacity_provider_strategy():
    strategy = [
        {"base": 1, "capacity_provider": "FARGATE", "weight": 1},
        {"capacity_provider": "FARGATE_SPOT", "weight": 3},
    ]
    assert spot_share(strategy, 1) == 0.0
    assert spot_share(strategy, 5) == pytest.approx(3 / 5)  # 1 base on demand, then 4 split 1:3
    assert spot_share([], 3) == 0.0


def _cost(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.cost.cost", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # a fresh process: the environment and the bindings loaded
def test_make_cost_prints_services_total_date_and_budget(synth_dir):
    result = _cost("dev", "--synth-out", str(synth_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"offline price table of {PRICES_DATE}" in out
    for service in ("NAT gateways", "Load balancer", "Fargate", "RDS", "WAF", "KMS", "CloudWatch", "total"):
        assert f"\n  {service} " in out
    total = float(out.split("\n  total")[1].split("$")[1].split()[0].replace(",", ""))
    assert total > 0 and "cost.monthly_budget_usd = 300 USD" in out
    assert f"{total / 300:.0%} of it" in out


def test_a_bad_usage_value_is_one_line_naming_file_field_and_value(tmp_path):
    import shutil

    from environments.config import ConfigError, load_environment

    shutil.copytree(
        ROOT / "environments", tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    dev = tmp_path / "dev.toml"
    assert "\nnat_data_gb = 100\n" in dev.read_text()
    dev.write_text(dev.read_text().replace("\nnat_data_gb = 100\n", "\nnat_data_gb = -1\n"))
    with pytest.raises(ConfigError) as error:
        load_environment("dev", tmp_path)
    assert str(error.value) == f"{tmp_path / 'dev.toml'}: cost.usage.nat_data_gb = -1.0: must be 0-1000000 GB"


@pytest.mark.slow  # a fresh process
def test_make_cost_with_a_bad_value_prints_one_line_and_exits_2(synth_dir, tmp_path):
    import shutil

    shutil.copytree(
        ROOT / "environments", tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    dev = tmp_path / "dev.toml"
    dev.write_text(dev.read_text().replace("\nalb_lcu = 1\n", '\nalb_lcu = "many"\n'))
    result = _cost("dev", "--synth-out", str(synth_dir), "--config-dir", str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"{dev}: cost.usage.alb_lcu = 'many': must be a number, got string"]


def test_the_budget_warning_starts_at_80_percent(stacks):
    from tools.cost.cost import report

    est = estimate("dev", stacks["dev"], _usage())
    assert report(est, est.total / 0.79)[1] is False
    text, warn = report(est, est.total / 0.8)
    assert warn and "80% of it — WARNING: at or above 80 %" in text
