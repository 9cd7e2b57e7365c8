"""deploy/ checked by real validators, not by eye: the systemd unit with ``systemd-analyze verify``
(and its syscall filter and security report), the Kubernetes manifests with kubernetes-validate's
bundled OpenAPI schemas in strict mode, the ServiceMonitor (a CRD, absent from those schemas)
against a schema written from the Prometheus Operator's documented fields, the Dockerfile with
hadolint. A missing validator fails these tests: scripts/setup installs systemd, the ``dev`` extra
the rest.

Also checked: the pieces agree with each other (ports, labels, capabilities, the config path), the
example config and the ConfigMap's config parse, and numamove runs under MemoryDenyWriteExecute.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from numamove.kernel.syscalls import SYSCALL_NUMBERS
from numamove.trackers.damon_owner import RECORD

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Debian 12 has 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "numamove.service"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.37.0"
BIN = Path(sys.executable).parent
CAPABILITIES = {"SYS_NICE", "SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "DAC_OVERRIDE"}


def tool(name: str) -> str:
    """The validator ``name``: the venv's own first, then PATH; a missing one fails the test."""
    for candidate in (BIN / name, shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    hint = "scripts/setup installs Debian's systemd" if name.startswith("systemd") else \
        "pip install -e '.[dev]'"
    pytest.fail(f"{name} is missing: {hint}")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


# --- the systemd unit ------------------------------------------------------------------------------

def unit_settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, in order per key (a key may repeat); comments dropped."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verifiable_unit(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart on this venv's numamove: verify checks that the command exists, and
    /usr/bin/numamove is where a package puts it, not where a development tree has it."""
    original = UNIT.read_text() if text is None else text
    numamove = BIN / "numamove"
    assert numamove.exists(), "numamove is not installed in this venv"
    changed = original.replace("ExecStart=/usr/bin/numamove ", f"ExecStart={numamove} ")
    assert changed != original or text is not None
    path = tmp_path / "numamove.service"
    path.write_text(changed)
    return path


def test_systemd_analyze_verifies_the_unit_without_a_word(tmp_path: Path) -> None:
    result = run(tool("systemd-analyze"), "verify", "--man=no", str(verifiable_unit(tmp_path)))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(("change", "complaint"), [
    (("LockPersonality=yes", "LockPersonalty=yes"), "Unknown key"),
    (("WatchdogSec=60s", "WatchdogSec=sixty"), "Failed to parse"),
    (("ExecStart=/usr/bin/numamove ", "ExecStart=/usr/bin/numamove-missing "), "not executable"),
])
def test_the_verify_step_would_catch_a_broken_unit(tmp_path: Path, change: tuple[str, str],
                                                   complaint: str) -> None:
    broken = UNIT.read_text().replace(*change)
    assert broken != UNIT.read_text()
    path = verifiable_unit(tmp_path, broken)
    result = run(tool("systemd-analyze"), "verify", "--man=no", str(path))
    assert complaint in result.stdout + result.stderr


def test_the_unit_notifies_and_keeps_only_the_capabilities_it_needs() -> None:
    settings = unit_settings(UNIT.read_text())
    assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"]
    assert settings["WatchdogSec"] == ["60s"]
    assert settings["ExecStart"] == ["/usr/bin/numamove daemon --config /etc/numamove/numamove.toml"]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["Restart"] == ["on-failure"]
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        assert set(settings[key][0].split()) == {f"CAP_{name}" for name in CAPABILITIES}
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelModules", "ProtectKernelLogs",
                "LockPersonality", "MemoryDenyWriteExecute", "ProtectControlGroups"):
        assert settings[key] == ["yes"], key
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["SystemCallArchitectures"] == ["native"]
    assert set(settings["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # It writes DAMON's sysfs files and must see every process.
    assert "ProtectKernelTunables" not in settings
    assert settings.get("ProtectProc", ["default"]) == ["default"] and "ProcSubset" not in settings
    assert "PrivatePIDs" not in settings


def test_the_unit_lets_numamove_write_its_damon_ownership_record() -> None:
    writable = [path.lstrip("-") for value in unit_settings(UNIT.read_text())["ReadWritePaths"]
                for path in value.split()]
    record = "/" + RECORD
    assert any(record.startswith(path.rstrip("/") + "/") for path in writable), (record, writable)
    assert "/sys/kernel/mm/damon" in writable


def expand_filter(analyze: str, names: list[str], seen: set[str] | None = None) -> set[str]:
    """The syscalls that systemd's ``SystemCallFilter=`` names allow, groups expanded."""
    seen = set() if seen is None else seen
    allowed: set[str] = set()
    for name in names:
        if not name.startswith("@"):
            allowed.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        result = run(analyze, "syscall-filter", name)
        assert result.returncode == 0, result.stderr
        members = [line.strip() for line in result.stdout.splitlines()[1:]
                   if line.strip() and not line.strip().startswith("#")]
        allowed |= expand_filter(analyze, members, seen)
    return allowed


def test_the_syscall_filter_allows_every_numa_syscall_numamove_makes() -> None:
    names = unit_settings(UNIT.read_text())["SystemCallFilter"][0].split()
    allowed = expand_filter(tool("systemd-analyze"), names)
    # The NUMA syscalls, the notify and metrics sockets, pagemap's and page_idle's pread/pwrite.
    needed = set(SYSCALL_NUMBERS["x86_64"]) | {"socket", "sendto", "bind", "listen", "pread64", "pwrite64"}
    assert needed <= allowed, sorted(needed - allowed)
    assert "kexec_load" not in allowed and "init_module" not in allowed  # a real filter, not everything


def test_systemd_rates_the_units_exposure_as_ok(tmp_path: Path) -> None:
    result = run(tool("systemd-analyze"), "security", "--offline=true", "--no-pager",
                 str(verifiable_unit(tmp_path)))
    found = re.search(r"Overall exposure level for numamove\.service: ([0-9.]+) (\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 4.0 and found.group(2) == "OK"


MDWE_RUNNER = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3)
    sys.exit(f"PR_SET_MDWE refused: errno {ctypes.get_errno()}")
if sys.argv[1] == "wx":
    import mmap
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("a writable and executable mapping was allowed")
sys.argv = ["numamove", *sys.argv[1:]]
from numamove._entry import run
run()
"""


def test_numamove_runs_without_writable_executable_memory() -> None:
    """PR_SET_MDWE is the kernel's own MemoryDenyWriteExecute (systemd uses it where it can, a seccomp
    filter elsewhere): under it numpy, ctypes and the NUMA syscalls still work."""
    denied = run(sys.executable, "-c", MDWE_RUNNER, "wx")
    assert denied.returncode == 1 and "PermissionError" in denied.stderr, denied.stderr  # it is enforced
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(1 << 20); time.sleep(60)"])
    try:
        where = run(sys.executable, "-c", MDWE_RUNNER, "where", str(child.pid), "--json")
        assert where.returncode == 0, where.stderr
        assert f'"pid": {child.pid}' in where.stdout
        doctor = run(sys.executable, "-c", MDWE_RUNNER, "doctor", "--json")
        assert doctor.returncode in (0, 1) and '"checks"' in doctor.stdout, doctor.stderr
        assert "Traceback" not in where.stderr + doctor.stderr
    finally:
        child.kill()
        child.wait()


# --- Kubernetes ------------------------------------------------------------------------------------

def documents(name: str) -> list[dict[str, Any]]:
    with (KUBERNETES / name).open() as file:
        return [document for document in yaml.safe_load_all(file) if document]


def by_kind(kind: str) -> dict[str, Any]:
    for name in ("daemonset.yaml", "service.yaml", "servicemonitor.yaml"):
        for document in documents(name):
            if document["kind"] == kind:
                return document
    raise AssertionError(f"no {kind} in deploy/kubernetes")


@pytest.mark.parametrize("name", ["daemonset.yaml", "service.yaml"])
def test_the_manifests_validate_strictly_against_kubernetes_schemas(name: str) -> None:
    kinds = []
    for document in documents(name):
        # SchemaNotFoundError (a kind or apiVersion the schemas do not know) fails too.
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        kinds.append(document["kind"])
    assert kinds == (["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
                      "DaemonSet"] if name == "daemonset.yaml" else ["Service"])


def test_the_validator_rejects_a_misspelled_field() -> None:
    daemonset = by_kind("DaemonSet")
    daemonset["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="hostPid"):
        kubernetes_validate.validate(daemonset, KUBERNETES_VERSION, strict=True)


def test_the_command_line_validator_passes_them_too() -> None:
    files = [str(KUBERNETES / name) for name in ("daemonset.yaml", "service.yaml")]
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *files)
    assert result.returncode == 0 and "ERROR" not in result.stdout and "WARN" not in result.stdout, \
        result.stdout


_SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": {"type": "array", "items": {
        "type": "object", "required": ["key", "operator"], "additionalProperties": False,
        "properties": {"key": {"type": "string"}, "operator": {"type": "string"},
                       "values": {"type": "array", "items": {"type": "string"}}}}}}}
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_RELABEL = {"type": "object", "additionalProperties": False, "properties": {
    "sourceLabels": {"type": "array", "items": {"type": "string"}}, "separator": {"type": "string"},
    "targetLabel": {"type": "string"}, "regex": {"type": "string"}, "replacement": {"type": "string"},
    "modulus": {"type": "integer"},
    "action": {"enum": ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                        "lowercase", "uppercase", "keepequal", "dropequal"]}}}
SERVICE_MONITOR_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name", "namespace"], "properties": {
            "name": {"type": "string"}, "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
                 "properties": {
                     "selector": _SELECTOR, "jobLabel": {"type": "string"},
                     "targetLabels": {"type": "array", "items": {"type": "string"}},
                     "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                     "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                         "any": {"type": "boolean"},
                         "matchNames": {"type": "array", "items": {"type": "string"}}}},
                     "endpoints": {"type": "array", "minItems": 1, "items": {
                         "type": "object", "additionalProperties": False, "properties": {
                             "port": {"type": "string"}, "targetPort": {"type": ["string", "integer"]},
                             "path": {"type": "string"}, "scheme": {"enum": ["http", "https"]},
                             "interval": _DURATION, "scrapeTimeout": _DURATION,
                             "honorLabels": {"type": "boolean"}, "honorTimestamps": {"type": "boolean"},
                             "relabelings": {"type": "array", "items": _RELABEL},
                             "metricRelabelings": {"type": "array", "items": _RELABEL}}}}}}}}
"""The ServiceMonitor fields numamove uses and their neighbours, as monitoring.coreos.com/v1's CRD
documents them (the CRD is not in Kubernetes' schemas). Stricter than the CRD on purpose: unknown
fields are refused here, where the API server would silently prune a misspelled one."""


def test_the_service_monitor_matches_its_documented_schema() -> None:
    [monitor] = documents("servicemonitor.yaml")
    jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)


def test_the_pieces_agree_with_each_other() -> None:
    daemonset, service, monitor = by_kind("DaemonSet"), by_kind("Service"), by_kind("ServiceMonitor")
    pod = daemonset["spec"]["template"]
    [container] = pod["spec"]["containers"]
    [port] = container["ports"]
    assert (port["name"], port["containerPort"]) == ("metrics", 9464)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/status", "port": "metrics"}
    # The config from the ConfigMap, where --config looks for it, serving on every pod address.
    config_map = by_kind("ConfigMap")
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "config"]
    [file] = config_map["data"]
    assert container["args"] == ["--config", f"{mount['mountPath']}/{file}"]
    config = tomllib.loads(config_map["data"][file])
    assert config["metrics"] == {"address": "0.0.0.0", "port": 9464}
    # Unprivileged, with the unit's capabilities and nothing else.
    context = container["securityContext"]
    assert context["privileged"] is False and context["readOnlyRootFilesystem"] is True
    assert context["runAsUser"] == 0 and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and set(context["capabilities"]["add"]) == CAPABILITIES
    assert pod["spec"]["hostPID"] is True
    assert "hostNetwork" not in pod["spec"]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts["/sys/fs/cgroup"] is True and mounts["/sys/kernel/mm/damon"] is False
    assert mounts["/" + RECORD.rsplit("/", 1)[0]] is False  # the DAMON ownership record's directory
    node_name = {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert node_name in container["env"]
    [rule] = by_kind("ClusterRole")["rules"]
    assert rule == {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}


# --- the example config ----------------------------------------------------------------------------

def test_the_example_config_has_two_selections_and_metrics() -> None:
    text = (DEPLOY / "numamove.toml.example").read_text()
    config = tomllib.loads(text)
    assert config["metrics"] == {"address": "127.0.0.1", "port": 9464}
    first, second = config["selection"]
    assert first["pids"] and second["comm"] and second["min_rss"]
    for selection in (first, second):
        assert {"name", "tracker", "policy", "policy_options", "interval", "budget", "rate"} <= set(selection)
    try:  # the daemon's own schema, once the daemon's config module is on this tree
        config_module = importlib.import_module("numamove.daemon.config")
    except ModuleNotFoundError:
        return
    checked = config_module.parse_config(text, "deploy/numamove.toml.example")
    assert [selection.name for selection in checked.selection] == ["batch-job", "postgres"]
    for document in documents("daemonset.yaml"):
        if document["kind"] == "ConfigMap":
            config_module.parse_config(document["data"]["numamove.toml"], "the ConfigMap")


# --- the Dockerfile --------------------------------------------------------------------------------

def test_hadolint_passes_the_dockerfile() -> None:
    result = run(tool("hadolint"), "--no-color", str(DEPLOY / "Dockerfile"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_would_catch_a_sloppy_dockerfile(tmp_path: Path) -> None:
    sloppy = (DEPLOY / "Dockerfile").read_text().replace(" --no-install-recommends", "")
    (tmp_path / "Dockerfile").write_text(sloppy)
    result = run(tool("hadolint"), "--no-color", str(tmp_path / "Dockerfile"))
    assert result.returncode != 0 and "DL3015" in result.stdout


def test_the_image_runs_the_daemon_from_the_source_tree() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    assert next(line for line in lines if line.startswith("FROM")) == "FROM debian:12-slim"
    assert 'ENTRYPOINT ["numamove", "daemon"]' in lines
    assert any("pip install" in line and "/src" in line for line in lines)
    assert not any(line.startswith("USER") for line in lines)  # root, on purpose (see the file)
