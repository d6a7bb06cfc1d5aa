"""The Kubernetes manifests (deploy/k8s/base, a kustomization) without a cluster: every built-in
object validated against the Kubernetes 1.30 OpenAPI schemas (kubernetes-validate, which ships
them), the Strimzi resources against the fields ioc relies on, and the wiring checked: commands,
secrets, probes, resources, scaling, spool, scraping."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from ioc.cli import app

BASE = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "base"
KUBERNETES = "1.30"
CLUSTER_SCOPED = {"Namespace"}


def _render() -> list[dict]:
    """What `kustomize build` emits for this kustomization's features: resources, env-file secrets
    (from secrets.env.example, the committed template of secrets.env), file config maps, namespace."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    objects = [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((BASE / name).read_text()) if doc]
    for generator in kustomization.get("secretGenerator", []):
        data = {}
        for env in generator["envs"]:
            for line in (BASE / f"{env}.example").read_text().splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                key, _, value = line.partition("=")
                data[key] = value or "set-in-secrets-env"
        objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": generator["name"]}, "type": "Opaque",
                        "stringData": data})
    for generator in kustomization.get("configMapGenerator", []):
        # `key=path` names the file in the map (kustomize's syntax); a bare path keeps its own name
        files = {key or Path(path).name: (BASE / path).read_text()
                 for key, _, path in (f.rpartition("=") for f in generator["files"])}
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": files})
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"].setdefault("namespace", kustomization["namespace"])
    return objects


OBJECTS = _render()
BY_KIND: dict[str, dict[str, dict]] = {}
for _obj in OBJECTS:
    BY_KIND.setdefault(_obj["kind"], {})[_obj["metadata"]["name"]] = _obj
WORKLOADS = {name: obj for kind in ("Deployment", "StatefulSet") for name, obj in BY_KIND.get(kind, {}).items()}
CONTAINERS = [(name, c) for name, w in WORKLOADS.items() for c in w["spec"]["template"]["spec"]["containers"]]
IOC_CONTAINERS = [(name, c) for name, w in WORKLOADS.items()
                  for c in w["spec"]["template"]["spec"].get("initContainers", []) + w["spec"]["template"]["spec"]["containers"]
                  if c["image"] == "ioc:latest"]

# The Strimzi fields ioc depends on (the operator's own CRDs are not shipped with a Python package).
STRIMZI = {
    "Kafka": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "metadata": {"required": ["annotations"], "properties": {"annotations": {
                "required": ["strimzi.io/kraft", "strimzi.io/node-pools"],
                "properties": {"strimzi.io/kraft": {"const": "enabled"}, "strimzi.io/node-pools": {"const": "enabled"}}}}},
            "spec": {"required": ["kafka"], "properties": {"kafka": {
                "required": ["listeners"],
                "properties": {"listeners": {"type": "array", "minItems": 1, "items": {
                    "required": ["name", "port", "type", "tls"],
                    "properties": {"port": {"type": "integer"}, "type": {"enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]}}}}}}}},
        },
    },
    "KafkaNodePool": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "metadata": {"required": ["labels"], "properties": {"labels": {"required": ["strimzi.io/cluster"]}}},
            "spec": {"required": ["replicas", "roles", "storage"], "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "roles": {"type": "array", "items": {"enum": ["controller", "broker"]}},
                "storage": {"required": ["type"]}}},
        },
    },
    # The frame stream's own retention (hours, not the cluster's days): the database keeps a sample.
    "KafkaTopic": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "metadata": {"required": ["labels"], "properties": {"labels": {"required": ["strimzi.io/cluster"]}}},
            "spec": {"required": ["topicName", "partitions", "config"], "properties": {
                "topicName": {"const": "ioc.frames.v1"},
                "config": {"required": ["retention.ms"], "properties": {"retention.ms": {"maximum": 24 * 3600 * 1000}}}}},
        },
    },
}


def test_the_kustomization_renders_every_piece():
    # Guards the parametrised tables below against silently shrinking.
    assert set(BY_KIND["Deployment"]) == {"sink", "processors", "maintenance", "agents-group-a", "prometheus", "grafana",
                                          "desk", "notify"}
    assert set(BY_KIND["StatefulSet"]) == {"timescaledb"}
    assert {"Kafka", "KafkaNodePool", "Secret", "ConfigMap", "Service", "PersistentVolumeClaim", "Namespace"} <= set(BY_KIND)
    assert len(IOC_CONTAINERS) >= 6


@pytest.mark.parametrize("obj", [o for o in OBJECTS if o["kind"] not in STRIMZI],
                         ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_object_matches_the_kubernetes_schema(obj):
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.mark.parametrize("kind", sorted(STRIMZI))
def test_strimzi_resources_have_what_ioc_needs(kind):
    (obj,) = BY_KIND[kind].values()
    assert obj["apiVersion"] == "kafka.strimzi.io/v1beta2"
    jsonschema.validate(obj, STRIMZI[kind])


def test_stages_reach_the_strimzi_bootstrap_service():
    (kafka,) = BY_KIND["Kafka"].values()
    port = kafka["spec"]["kafka"]["listeners"][0]["port"]
    assert BY_KIND["ConfigMap"]["ioc-config"]["data"]["IOC_BOOTSTRAP"] == f"{kafka['metadata']['name']}-kafka-bootstrap:{port}"
    pool = next(iter(BY_KIND["KafkaNodePool"].values()))
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]


@pytest.mark.parametrize(("workload", "container"), CONTAINERS, ids=[f"{w}/{c['name']}" for w, c in CONTAINERS])
def test_every_container_has_probes_and_bounded_resources(workload, container):
    assert container.get("readinessProbe") and container.get("livenessProbe"), f"{workload}: no probes"
    resources = container.get("resources", {})
    assert {"cpu", "memory"} <= set(resources.get("requests", {})) and {"cpu", "memory"} <= set(resources.get("limits", {}))


@pytest.mark.parametrize(("workload", "container"), IOC_CONTAINERS, ids=[f"{w}/{c['name']}" for w, c in IOC_CONTAINERS])
def test_each_ioc_container_runs_a_real_command(workload, container):
    args = container["args"]
    words = [w for w in args if not w.startswith("-")][:2]
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in (w for w in args if w.startswith("--")):
        assert option in result.output, f"{workload}: `ioc {' '.join(words)}` has no option {option}"


def test_secrets_and_config_maps_referenced_exist_with_their_keys():
    secrets = {name: set(s["stringData"]) for name, s in BY_KIND["Secret"].items()}
    config_maps = set(BY_KIND["ConfigMap"])
    for name, workload in WORKLOADS.items():
        pod = workload["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets.get(ref["name"], set()), (name, ref)
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, f"{name}: a whole Secret in the environment; take the keys it needs"
                assert source["configMapRef"]["name"] in config_maps
        for volume in pod.get("volumes", []):
            if "configMap" in volume and not volume["configMap"].get("optional"):
                assert volume["configMap"]["name"] in config_maps, (name, volume)
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in BY_KIND["PersistentVolumeClaim"], (name, volume)
    grafana_env = {e["name"]: e for e in BY_KIND["Deployment"]["grafana"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert grafana_env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "GRAFANA_ADMIN_PASSWORD"


@pytest.mark.parametrize("name", ["sink", "processors"])
def test_sink_and_processors_scale_as_consumer_groups(name):
    deployment = BY_KIND["Deployment"][name]
    assert deployment["spec"]["replicas"] >= 2
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    # one group for all pods: nothing pod-specific (such as a group or app id per pod) in the command
    assert "--group" not in args and "--app-id" not in args


def _claim_mounted_at(pod: dict, path: str) -> dict:
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == path)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return BY_KIND["PersistentVolumeClaim"][volume["persistentVolumeClaim"]["claimName"]]


def test_processors_share_their_state_across_pods():
    """Horizons and alert snapshots must reach the pod a partition moves to (processors/README.md)."""
    pod = BY_KIND["Deployment"]["processors"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    claim = _claim_mounted_at(pod, args[args.index("--state-dir") + 1])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_agents_keep_their_spool_on_a_persistent_volume():
    agents = BY_KIND["Deployment"]["agents-group-a"]
    pod = agents["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    claim = _claim_mounted_at(pod, args[args.index("--spool-dir") + 1])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # one pod per claim at a time: a rolling update would have two pods wanting the same volume
    assert agents["spec"]["replicas"] == 1 and agents["spec"]["strategy"]["type"] == "Recreate"
    cameras = next(v for v in pod["volumes"] if "configMap" in v)["configMap"]["name"]
    assert BY_KIND["ConfigMap"][cameras]["data"], "the camera group has no camera files"


@pytest.mark.parametrize("name", ["sink", "processors", "agents-group-a"])
def test_prometheus_scrapes_each_stage_on_its_metrics_port(name):
    template = BY_KIND["Deployment"][name]["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    container = template["spec"]["containers"][0]
    port = container["args"][container["args"].index("--metrics-port") + 1]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == port
    assert {"name": "metrics", "containerPort": int(port)} in container["ports"]
    config = yaml.safe_load(BY_KIND["ConfigMap"]["prometheus-config"]["data"]["prometheus.yml"])
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    assert any(r.get("action") == "keep" and r["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
               for r in job["relabel_configs"])


def test_the_desk_is_served_on_its_probed_port():
    pod = BY_KIND["Deployment"]["desk"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = int(container["args"][container["args"].index("--port") + 1])
    assert {"name": "web", "containerPort": port} in container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    service = BY_KIND["Service"]["desk"]
    assert service["spec"]["selector"] == BY_KIND["Deployment"]["desk"]["spec"]["selector"]["matchLabels"]
    # one pod retries the outbox: a rolling update must not run two
    assert BY_KIND["Deployment"]["desk"]["spec"]["replicas"] == 1
    assert BY_KIND["Deployment"]["desk"]["spec"]["strategy"]["type"] == "Recreate"


def test_notify_reads_a_valid_routes_file_with_its_secrets_from_the_secret(tmp_path):
    pod = BY_KIND["Deployment"]["notify"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    routes_path = Path(args[args.index("--routes") + 1])
    mount = next(m for m in container["volumeMounts"] if routes_path.is_relative_to(m["mountPath"]))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    routes_text = BY_KIND["ConfigMap"][volume["configMap"]["name"]]["data"][routes_path.name]
    # the probe runs the same check an operator runs by hand
    assert container["livenessProbe"]["exec"]["command"] == ["ioc", "notify", "check", "--routes", str(routes_path)]
    secret_env = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    local = tmp_path / "routes.yaml"
    local.write_text(routes_text)
    result = CliRunner().invoke(app, ["notify", "check", "--routes", str(local)],
                                env={name: "set-in-secrets-env" for name in secret_env} | {"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    without = CliRunner().invoke(app, ["notify", "check", "--routes", str(local)],
                                env={name: None for name in secret_env} | {"COLUMNS": "200"})
    assert without.exit_code != 0, "the routes file names no secret from the environment"
