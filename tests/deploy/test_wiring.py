"""The pieces of the deployment fit each other: the ports the image, compose.yaml, nginx,
Prometheus and the manifests name agree; the addresses Conduit trusts are the proxy's and
Prometheus's; every secret compose.yaml needs is in its example env file; Grafana reads the
folder compose mounts; the Kubernetes selectors select the pods they mean, every manifest is
in the kustomization, and every pod runs as the Dockerfile's non-root user on a read-only
root file system. A renamed service, a moved port or a dropped security setting fails here."""

from __future__ import annotations

import ipaddress
import json
import re

import yaml

from tests.deploy.support import (
    COMPOSE,
    COMPOSE_ENV_EXAMPLE,
    GRAFANA,
    KUBERNETES,
    PROMETHEUS_CONF,
    api_services,
    compose,
    compose_services,
    dockerfile_exec_form,
    dockerfile_instructions,
    manifest,
    manifest_files,
    manifests,
    pod_containers,
)

API_PORT = 8000


def _dockerfile(keyword: str) -> str:
    return next(text for name, text in dockerfile_instructions() if name == keyword)


def _scrape_targets(job: str) -> set[str]:
    config = yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))
    (scrape,) = [item for item in config["scrape_configs"] if item["job_name"] == job]
    assert scrape.get("metrics_path", "/metrics") == "/metrics"
    return {target for static in scrape["static_configs"] for target in static["targets"]}


def _worker_metrics_port() -> int:
    return int(compose_services()["worker"]["environment"]["CONDUIT_METRICS_PORT"])


def test_the_api_port_is_the_same_everywhere() -> None:
    command = dockerfile_exec_form("CMD")
    assert command[command.index("--port") + 1] == str(API_PORT)
    assert _dockerfile("EXPOSE") == str(API_PORT)
    assert f"127.0.0.1:{API_PORT}/" in _dockerfile("HEALTHCHECK")
    assert api_services() == ["api-1", "api-2"]
    assert _scrape_targets("conduit-api") == {f"{name}:{API_PORT}" for name in api_services()}
    api = manifest("Deployment", "conduit-api")["spec"]["template"]
    (container,) = api["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}]
    assert api["metadata"]["annotations"]["prometheus.io/port"] == str(API_PORT)


def test_the_worker_metrics_port_is_the_same_everywhere() -> None:
    port = _worker_metrics_port()
    assert _scrape_targets("conduit-worker") == {f"worker:{port}"}
    worker = compose_services()["worker"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])
    pod = manifest("Deployment", "conduit-worker")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert {"name": "CONDUIT_METRICS_PORT", "value": str(port)} in container["env"]
    assert container["ports"][0]["containerPort"] == port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)


def test_conduit_trusts_nginx_and_lets_prometheus_read_metrics_in_compose() -> None:
    services = compose_services()
    subnet = ipaddress.ip_network(compose()["networks"]["conduit"]["ipam"]["config"][0]["subnet"])
    nginx = ipaddress.ip_address(services["nginx"]["networks"]["conduit"]["ipv4_address"])
    prometheus = ipaddress.ip_address(services["prometheus"]["networks"]["conduit"]["ipv4_address"])
    assert nginx in subnet
    assert prometheus in subnet
    for name in [*api_services(), "worker"]:
        environment = services[name]["environment"]
        assert json.loads(environment["CONDUIT_TRUSTED_PROXIES"]) == [str(nginx)]
        allowed = [
            ipaddress.ip_network(net) for net in environment["CONDUIT_METRICS_ALLOW"].split(",")
        ]
        assert any(prometheus in network for network in allowed)
        assert not any(nginx in network for network in allowed)  # clients come through nginx


def test_the_migrations_run_before_any_conduit_process_starts() -> None:
    services = compose_services()
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in [*api_services(), "worker"]:
        needs = services[name]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}, name
        assert {"postgres", "redis", "rabbitmq"} <= set(needs), name
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"


def test_every_variable_compose_needs_is_in_its_example_env_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    optional = set(re.findall(r"\$\{(\w+):-", text))
    example = COMPOSE_ENV_EXAMPLE.read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?(\w+)=", example, re.M))
    assert {"CONDUIT_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"} <= required
    assert required <= listed, f"missing from {COMPOSE_ENV_EXAMPLE}: {required - listed}"
    assert listed <= required | optional, (
        f"not used by compose.yaml: {listed - required - optional}"
    )
    for secret in ("CONDUIT_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):
        assert re.search(rf"^{secret}=$", example, re.M), f"{secret} must be left empty"


def test_grafana_reads_the_dashboards_and_prometheus_compose_provides() -> None:
    grafana = compose_services()["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/conduit.yml").read_text())
    (dashboards,) = provider["providers"]
    assert mounts["./deploy/grafana/dashboards"] == dashboards["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (prometheus,) = source["datasources"]
    assert prometheus["url"] == "http://prometheus:9090"
    assert "prometheus" in compose_services()
    config = yaml.safe_load(PROMETHEUS_CONF.read_text())
    assert config["rule_files"] == ["alerts.yml"]  # beside it in the folder compose mounts
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose_services()["prometheus"]["volumes"]


def test_the_kustomization_holds_every_manifest_and_names_the_image() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(path.name for path in manifest_files())
    (image,) = kustomization["images"]
    assert {container["image"] for _name, container in pod_containers()} == {image["name"]}
    namespace = manifest("Namespace", kustomization["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_kubernetes_selectors_select_the_pods_they_mean() -> None:
    api = manifest("Deployment", "conduit-api")
    api_labels = api["spec"]["template"]["metadata"]["labels"]
    worker_labels = manifest("Deployment", "conduit-worker")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert _selects(api["spec"]["selector"]["matchLabels"], api_labels)
    service = manifest("Service", "conduit-api")
    assert _selects(service["spec"]["selector"], api_labels)
    assert not _selects(service["spec"]["selector"], worker_labels)
    assert _selects(
        manifest("PodDisruptionBudget", "conduit-api")["spec"]["selector"]["matchLabels"],
        api_labels,
    )
    hpa = manifest("HorizontalPodAutoscaler", "conduit-api")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "conduit-api",
    }
    assert "replicas" not in api["spec"]  # the autoscaler's to set
    assert hpa["minReplicas"] >= 2
    policies = {
        doc["metadata"]["name"]: doc["spec"]
        for _p, doc in manifests()
        if doc["kind"] == "NetworkPolicy"
    }
    api_in = policies["conduit-api-ingress"]
    assert _selects(api_in["podSelector"]["matchLabels"], api_labels)
    assert api_in["ingress"][0]["ports"] == [{"protocol": "TCP", "port": API_PORT}]
    worker_in = policies["conduit-worker-ingress"]
    assert _selects(worker_in["podSelector"]["matchLabels"], worker_labels)
    assert worker_in["ingress"][0]["ports"] == [{"protocol": "TCP", "port": _worker_metrics_port()}]
    egress = policies["conduit-egress"]
    assert _selects(egress["podSelector"]["matchLabels"], api_labels)
    assert _selects(egress["podSelector"]["matchLabels"], worker_labels)
    ports = {port["port"] for rule in egress["egress"] for port in rule["ports"]}
    assert {53, 5432, 6379, 5672} <= ports
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_every_pod_runs_as_the_image_user_on_a_read_only_root() -> None:
    user = int(_dockerfile("USER").split(":")[0])
    for _path, document in manifests():
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        name = document["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == user, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], name
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]
