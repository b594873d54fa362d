"""deploy/monitoring: the alert rules pass ``promtool check rules`` and their own unit tests
(``promtool test rules``), the compose Prometheus config is valid and scrapes every Intake
service of the compose file, and every panel of the dashboard queries Prometheus through
the provisioned datasource. Whether each query returns
data from the running services: tests/e2e/test_prometheus.py."""

import json
import subprocess

import yaml

from tests.monitoring import DASHBOARD, MONITORING, PROMETHEUS_DIR, RULES, binary, panels


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], cwd=PROMETHEUS_DIR, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"]
             if case["exp_alerts"]}
    rules = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"]
             for rule in group["rules"]}
    assert fired == rules  # each alert is shown firing at least once


def test_the_compose_prometheus_config_is_valid() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_compose_prometheus_scrapes_every_intake_service_of_compose() -> None:
    compose = yaml.safe_load((MONITORING.parents[1] / "compose/docker-compose.yml").read_text())
    services = {name for name, service in compose["services"].items()
                if service.get("command", [])[:3] == ["python", "-m", "services"]}
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    scraped = {(job["job_name"], tuple(sd["names"]), sd["port"])
               for job in config["scrape_configs"] for sd in job["dns_sd_configs"]}
    assert scraped == {(name, (name,), 8100) for name in services}
    assert {"admin", "discovery", "downloader", "uploader", "notifier"} <= services


def test_every_panel_queries_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    dashboard = json.loads(DASHBOARD.read_text())
    found = list(panels(dashboard))
    assert len(found) >= 10
    for panel in found:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": source["type"], "uid": source["uid"]}, (
                panel["title"])
    ids = [panel["id"] for panel in found]
    assert len(ids) == len(set(ids))
