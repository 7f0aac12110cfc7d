"""Rules the Kubernetes manifests must keep, beyond what the API schemas check.

Run by .ci/check-deploy on the output of each `kubectl kustomize` build (file arguments).
Exits non-zero naming every broken rule.
"""

import sys

import yaml


errors = []


def report(message):
    errors.append(message)


def env_of(container, config_maps):
    """The container's environment as far as the manifests tell: envFrom ConfigMaps, then env."""
    env = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref is not None:
            if ref not in config_maps:
                report(f"envFrom names ConfigMap {ref}, which the build does not contain")
            env.update(config_maps.get(ref, {}))
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "<from a reference>")
    return env


def check_workload(path, doc, config_maps):
    kind, name = doc["kind"], doc["metadata"]["name"]
    where = f"{path}: {kind}/{name}"
    pod = doc["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        report(f"{where}: pod securityContext.runAsNonRoot must be true")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        report(f"{where}: pod seccompProfile must be RuntimeDefault")
    for container in pod["containers"]:
        at = f"{where} container {container['name']}"
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            report(f"{at}: readOnlyRootFilesystem must be true")
        if security.get("allowPrivilegeEscalation") is not False:
            report(f"{at}: allowPrivilegeEscalation must be false")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            report(f"{at}: capabilities must drop ALL")
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(section, {}):
                    report(f"{at}: resources.{section}.{resource} missing")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                report(f"{at}: {probe} missing")
        env = env_of(container, config_maps)
        if not container.get("image", "").startswith("redis"):
            check_gatehouse(at, doc, pod, container, env)


def check_gatehouse(at, doc, pod, container, env):
    # A TLS listener answers probes only over HTTPS; a plain one only over HTTP. A port that
    # requires client certificates cannot be probed at all (the kubelet presents none): probes
    # then go to the plain probe port (--probe-listen).
    mutual = "GATEHOUSE_TLS_CLIENT_CA" in env
    if mutual and "GATEHOUSE_PROBE_LISTEN" not in env:
        report(f"{at}: with GATEHOUSE_TLS_CLIENT_CA, probes need GATEHOUSE_PROBE_LISTEN")
    scheme = "HTTPS" if "GATEHOUSE_TLS_CERT" in env and not mutual else "HTTP"
    port_names = {p.get("name") for p in container.get("ports", [])}
    for probe in ("readinessProbe", "livenessProbe"):
        http_get = container.get(probe, {}).get("httpGet")
        if http_get is None or http_get.get("scheme", "HTTP") != scheme:
            report(f"{at}: {probe} must be an httpGet with scheme {scheme}")
        elif mutual and (http_get.get("port") != "probes" or "probes" not in port_names):
            report(f"{at}: {probe} must use the container port named probes")
    if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        report(f"{at}: readinessProbe must ask /readyz")
    if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        report(f"{at}: livenessProbe must ask /healthz")
    role = container.get("args", [None])[0]
    if role == "gateway":
        # SIGKILL must never cut a drain short.
        drain = float(env.get("GATEHOUSE_DRAIN_DELAY", 5)) + float(env.get("GATEHOUSE_DRAIN_TIMEOUT", 20))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= drain:
            report(f"{at}: terminationGracePeriodSeconds {grace} must exceed the drain, {drain} s")
    elif role == "control-plane" and env.get("GATEHOUSE_STATE_STORE", "file") == "file":
        # The file store locks its data dir: one pod, and the old one gone before the new starts.
        if doc["spec"].get("replicas", 1) != 1 or doc["spec"].get("strategy", {}).get("type") != "Recreate":
            report(f"{at}: the file state store needs replicas 1 and strategy Recreate")
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if env.get("GATEHOUSE_DATA_DIR") not in mounts:
            report(f"{at}: GATEHOUSE_DATA_DIR must be a mounted volume")


def main(paths):
    for path in paths:
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
        config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
        workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
        for doc in workloads:
            check_workload(path.rsplit("/", 1)[-1], doc, config_maps)
        kinds = {d["kind"] for d in docs}
        if "Deployment" in kinds and "PodDisruptionBudget" not in kinds:
            report(f"{path}: gateways need a PodDisruptionBudget")
    for error in errors:
        print(f"check-deploy: policy: {error}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(
        f"check-deploy: policy: {len(paths)} builds keep the rules (probes, requests and limits, "
        "security context, grace period above the drain, file store on one pod)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
