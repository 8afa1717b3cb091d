"""deploy/ holds what runs Portcullis elsewhere: the Dockerfile, Compose, Kubernetes manifests and a
Helm chart. Checked here as far as this machine allows:

- every Kubernetes object (deploy/kubernetes/, and the chart rendered with its defaults and with
  the common choices) validates against the Kubernetes schemas bundled by ``kubernetes-validate``
  (strict: an unknown field fails), for the oldest and newest versions named below;
- what a user would notice: probes on /healthz and /readyz with a Host the gateway accepts, a
  non-root container with a read-only root filesystem and no capabilities, writable paths only on
  volumes, a preStop pause plus the drain that fit in the termination grace period;
- every settings file the artefacts ship passes ``portcullis check`` with the keys the artefact
  passes through the environment;
- the image's install steps run as the Dockerfile runs them (deploy/docker/install.sh into a
  fresh venv, built by tests/tools/build-image-venv.sh), then that install serves the image's
  settings on 0.0.0.0 and the image's HEALTHCHECK script passes against it;
- both Dockerfiles pass ``hadolint`` and the scripts ``shellcheck`` (both from wheels of the
  ``test`` extra);
- Compose's wiring (services, mounts, ports, the settings' Redis and collector URLs) by reading
  the file, and with ``docker compose config`` where the Compose plugin is installed; the nginx
  and Prometheus configurations pass ``nginx -t`` and ``promtool check config``.

No helm binary is available from the package registries here, so the chart is rendered by
:func:`render_chart`, a renderer for the subset of Go templates the chart uses (it refuses
anything else, so a template using more fails here rather than rendering wrong).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from gateway.cli import SHUTDOWN_GRACE, new_api_key
from gateway.settings.guardrails import GuardrailsSettings
from gateway.settings.ops import OpsSettings
from middleware.auth.api_key import hash_key
from tests.support import ROOT, free_port

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "portcullis"
DOCKERFILE = DEPLOY / "Dockerfile"
IMAGE_SETTINGS = DEPLOY / "docker" / "settings.toml"
IMAGE_VENV_TOOL = ROOT / "tests" / "tools" / "build-image-venv.sh"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
"""The oldest Kubernetes the manifests are meant for, and the newest whose schemas are bundled."""
WRITABLE = ("/tmp", "/var/lib/portcullis")
"""The image's only writable paths (its VOLUMEs); everything else may be read-only."""
KEY = new_api_key()
KEYS_JSON = json.dumps([{"principal": "tests", "sha256": hash_key(KEY)}])
SECRET_FOR_ENV = {
    "api-keys": KEYS_JSON,
    "redis-url": "redis://redis:6379/0",  # the private Redis of the `redis` fixture, for `check`
    "request-state-key": "x" * 40,
    "vault-key": "y" * 40,
}
"""What a Secret holds once its placeholders are replaced, for ``portcullis check``."""


# ---- a renderer for the chart's templates ------------------------------------------------------

TAG = re.compile(r"\{\{(-)?\s*(.*?)\s*(-)?\}\}", re.DOTALL)
WORD = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s]+')


@dataclass
class Node:
    kind: str  # text | expr | if | range
    text: str = ""
    body: list[Node] = field(default_factory=list)
    otherwise: list[Node] = field(default_factory=list)


def _tokens(source: str) -> list[tuple[str, str]]:
    """Text and actions, with ``{{-`` / ``-}}`` trimming applied as Go templates do."""
    tokens: list[tuple[str, str]] = []
    position, trim_next = 0, False
    for match in TAG.finditer(source):
        text = source[position : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        tokens.append(("text", text))
        tokens.append(("action", match.group(2)))
        trim_next, position = bool(match.group(3)), match.end()
    tail = source[position:]
    tokens.append(("text", tail.lstrip() if trim_next else tail))
    return tokens


def _parse(tokens: list[tuple[str, str]], start: int, ends: tuple[str, ...]) -> tuple[list[Node], int, str]:
    nodes: list[Node] = []
    index = start
    while index < len(tokens):
        kind, text = tokens[index]
        index += 1
        if kind == "text":
            nodes.append(Node("text", text))
        elif text.startswith("/*"):
            continue
        elif text in ends:
            return nodes, index, text
        elif text.startswith(("if ", "range ")):
            keyword, _, expression = text.partition(" ")
            body, index, stop = _parse(tokens, index, ("else", "end"))
            otherwise: list[Node] = []
            if stop == "else":
                otherwise, index, _ = _parse(tokens, index, ("end",))
            nodes.append(Node(keyword, expression, body, otherwise))
        elif text.split(" ", 1)[0] in ("else", "end", "with", "define", "template", "include", "block"):
            raise ValueError(f"the test's renderer does not support {{{{ {text} }}}}")
        else:
            nodes.append(Node("expr", text))
    if ends:
        raise ValueError(f"missing {{{{ end }}}} (expected one of {ends})")
    return nodes, index, ""


def _lookup(path: str, dot: Any, root: Mapping[str, Any]) -> Any:
    base: Any = root if path.startswith("$") else dot
    for part in path.lstrip("$").strip(".").split("."):
        if not part:
            continue
        if not isinstance(base, Mapping) or part not in base:
            raise KeyError(f"{path}: no such value")
        base = base[part]
    return base


def _printed(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Go prints float64 10 as 10
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError(f"{value!r} printed as is: pipe it through toYaml or toJson")


def _indent(width: Any, text: Any) -> str:
    return "\n".join(" " * int(width) + line for line in str(text).split("\n"))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quote": lambda value: json.dumps(_printed(value), ensure_ascii=False),
    "toJson": lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True),
    "toYaml": lambda value: yaml.safe_dump(value, sort_keys=True, default_flow_style=False).rstrip("\n"),
    "indent": _indent,
    "nindent": lambda width, text: "\n" + _indent(width, text),
    "default": lambda fallback, value: value or fallback,
    "not": lambda value: not value,
}


def _argument(word: str, dot: Any, root: Mapping[str, Any]) -> Any:
    if word.startswith('"'):
        return json.loads(word)
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if word.startswith((".", "$")):
        return _lookup(word, dot, root)
    raise ValueError(f"the test's renderer does not understand {word!r}")


def _evaluate(expression: str, dot: Any, root: Mapping[str, Any]) -> Any:
    value: Any = None
    for number, command in enumerate(part.strip() for part in expression.split("|")):
        words = WORD.findall(command)
        if words[0] in FUNCTIONS:
            arguments = [_argument(word, dot, root) for word in words[1:]]
            value = FUNCTIONS[words[0]](*arguments, *([value] if number else []))
        elif number == 0 and len(words) == 1:
            value = _argument(words[0], dot, root)
        else:
            raise ValueError(f"the test's renderer does not support {command!r}")
    return value


def _execute(nodes: list[Node], dot: Any, root: Mapping[str, Any]) -> str:
    out = []
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
        elif node.kind == "expr":
            out.append(_printed(_evaluate(node.text, dot, root)))
        elif node.kind == "if":
            chosen = node.body if _evaluate(node.text, dot, root) else node.otherwise
            out.append(_execute(chosen, dot, root))
        else:  # range over a list; dot is the item
            items = _evaluate(node.text, dot, root) or []
            out.extend(_execute(node.body, item, root) for item in items)
            if not items:
                out.append(_execute(node.otherwise, dot, root))
    return "".join(out)


def render_template(source: str, context: Mapping[str, Any]) -> str:
    nodes, _, _ = _parse(_tokens(source), 0, ())
    return _execute(nodes, context, context)


def _merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_chart(overrides: Mapping[str, Any] | None = None, release: str = "portcullis") -> list[Any]:
    """The chart's objects, as ``helm template RELEASE deploy/helm/portcullis`` would give them."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = _merged(yaml.safe_load((CHART / "values.yaml").read_text()), overrides or {})
    context = {
        "Values": values,
        "Release": {"Name": release, "Namespace": "default", "Revision": 1, "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    }
    objects = []
    for template in sorted((CHART / "templates").glob("*.yaml")):
        rendered = render_template(template.read_text(), context)
        objects += [doc for doc in yaml.safe_load_all(rendered) if doc is not None]
    return objects


# ---- helpers --------------------------------------------------------------------------------------


def manifests() -> dict[str, list[Any]]:
    """Every object of deploy/kubernetes/, by file."""
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        for path in sorted(KUBERNETES.glob("*.yaml"))
    }


def one(objects: list[Any], kind: str) -> Any:
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def gateway_container(deployment: Any) -> Any:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c.get("args", [])[:1] == ["serve"])


def settings_of(objects: list[Any]) -> dict[str, Any]:
    config = one(objects, "ConfigMap")
    return tomllib.loads(config["data"]["settings.toml"])


def secret_env(deployment: Any, objects: list[Any]) -> dict[str, str]:
    """The PORTCULLIS_* variables the gateway container gets: the keys its Secret (when one is
    among ``objects``) holds, with their placeholders replaced by :data:`SECRET_FOR_ENV`."""
    secrets = {obj["metadata"]["name"]: obj["stringData"] for obj in objects if obj["kind"] == "Secret"}
    env = {}
    for variable in gateway_container(deployment).get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        if ref["name"] in secrets and ref["key"] not in secrets[ref["name"]]:
            assert ref.get("optional") is True, f"{variable['name']}: {ref['key']} is not in the Secret"
            continue
        env[variable["name"]] = SECRET_FOR_ENV[ref["key"]]
    return env


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Redis (nothing kept on disk) standing in for the artefacts' ``redis`` host: ``check``
    reads the tenancy store there. tests/tools/ensure-redis.sh installs redis-server."""
    binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    assert binary, "redis-server is needed (tests/tools/ensure-redis.sh installs it, or set REDIS_SERVER)"
    port = free_port()
    where = tmp_path_factory.mktemp("redis")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(where)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def portcullis_check(
    settings: str, env: Mapping[str, str], tmp: Path, python: str = sys.executable, redis: str = ""
) -> Any:
    """``portcullis check`` on ``settings``, with only ``env`` of PORTCULLIS_* set; the artefacts'
    Redis (host ``redis``) is ``redis``, the private one."""
    path = tmp / f"settings-{len(list(tmp.iterdir()))}.toml"

    def private(text: str) -> str:
        return re.sub(r"redis://redis[\w.-]*:6379/0", redis, text) if redis else text

    path.write_text(private(settings))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    return subprocess.run(
        [python, "-m", "gateway", "check", "--settings", str(path)],
        capture_output=True,
        text=True,
        env={**clean, **{name: private(value) for name, value in env.items()}},
        timeout=60,
        cwd=tmp,
    )


def validate(obj: Any, where: str) -> None:
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name, at = obj["metadata"]["name"], ".".join(map(str, exc.path))
            pytest.fail(
                f"{where}: {obj['kind']} {name} is not valid Kubernetes {version}: {exc.message} at {at}"
            )


CHART_CHOICES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sidecar": {"sidecar": {"enabled": True}},
    "no-autoscaling-no-networkpolicy": {
        "autoscaling": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
    "existing-secret-traces-redis": {
        "existingSecret": "my-portcullis",
        "traces": {"enabled": True},
        "redis": {"url": "redis://redis:6379/0"},
        "auth": {"apiKeys": [{"principal": "agents", "sha256": "0" * 64}]},
        "extraSettings": '[servers.search]\nurl = "https://search.example.com/mcp"\n',
    },
}


def every_deployment() -> Iterator[tuple[str, Any, list[Any]]]:
    """(where, Deployment, the objects beside it) of deploy/kubernetes/ and every chart render."""
    found = manifests()
    plain = [obj for name, objs in found.items() if name != "sidecar.yaml" for obj in objs]
    yield "deploy/kubernetes", one(plain, "Deployment"), plain
    yield "deploy/kubernetes/sidecar.yaml", one(found["sidecar.yaml"], "Deployment"), found["sidecar.yaml"]
    for choice, overrides in CHART_CHOICES.items():
        objects = render_chart(overrides)
        yield f"chart ({choice})", one(objects, "Deployment"), objects


# ---- Kubernetes -----------------------------------------------------------------------------------


def test_every_manifest_is_valid_kubernetes() -> None:
    found = manifests()
    kinds = {obj["kind"] for objects in found.values() for obj in objects}
    assert {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "ConfigMap", "Secret", "NetworkPolicy",
    } <= kinds  # fmt: skip
    for name, objects in found.items():
        for obj in objects:
            validate(obj, f"deploy/kubernetes/{name}")


@pytest.mark.parametrize("choice", list(CHART_CHOICES))
def test_the_rendered_chart_is_valid_kubernetes(choice: str) -> None:
    for obj in render_chart(CHART_CHOICES[choice]):
        validate(obj, f"chart ({choice})")


def test_the_chart_renders_the_same_objects_with_defaults_and_in_sidecar_mode() -> None:
    def names(objects: list[Any]) -> set[tuple[str, str]]:
        return {(obj["kind"], obj["metadata"]["name"]) for obj in objects}

    defaults, sidecar = render_chart(), render_chart(CHART_CHOICES["sidecar"])
    assert names(defaults) == names(sidecar)
    # ...and the same as deploy/kubernetes/ (the chart is those manifests with values).
    plain = [obj for name, objs in manifests().items() if name != "sidecar.yaml" for obj in objs]
    assert names(defaults) == names(plain)
    # Sidecar mode adds the server's container, and the gateway's settings point at it.
    containers = sidecar[[o["kind"] for o in sidecar].index("Deployment")]["spec"]["template"]["spec"]
    names_of = [c["name"] for c in containers["containers"]]
    assert names_of == ["tools", "portcullis"]
    assert settings_of(sidecar)["servers"]["tools"]["url"] == "http://127.0.0.1:3000/mcp"
    assert "servers" not in settings_of(defaults)


def test_chart_choices_change_what_they_say() -> None:
    lean = render_chart(CHART_CHOICES["no-autoscaling-no-networkpolicy"])
    kinds = {obj["kind"] for obj in lean}
    assert "HorizontalPodAutoscaler" not in kinds and "NetworkPolicy" not in kinds
    assert "PodDisruptionBudget" not in kinds
    assert one(lean, "Deployment")["spec"]["replicas"] == 2
    assert "replicas" not in one(render_chart(), "Deployment")["spec"]  # the HPA owns it

    chosen = render_chart(CHART_CHOICES["existing-secret-traces-redis"])
    assert "Secret" not in {obj["kind"] for obj in chosen}
    refs = {
        v["valueFrom"]["secretKeyRef"]["name"] for v in gateway_container(one(chosen, "Deployment"))["env"]
    }
    assert refs == {"my-portcullis"}
    settings = settings_of(chosen)
    assert settings["telemetry"]["traces"]["enabled"] is True
    assert settings["servers"]["search"]["url"] == "https://search.example.com/mcp"

    keys = [{"principal": "agents", "sha256": "a" * 64}]
    secret = one(render_chart({"auth": {"apiKeys": keys}, "redis": {"url": "redis://r:6379/0"}}), "Secret")
    assert json.loads(secret["stringData"]["api-keys"]) == keys
    assert secret["stringData"]["redis-url"] == "redis://r:6379/0"


def test_the_renderer_follows_go_templates_and_refuses_what_it_does_not_know() -> None:
    values = {"Values": {"on": True, "off": False, "names": ["a", "b"], "map": {"k": 1}, "empty": ""}}
    template = (
        "x:\n  {{- if .Values.on }}\n  y: 1\n  {{- end }}\n  {{- if .Values.off }}\n  z: 2\n  {{- end }}\n"
    )
    assert render_template(template, values) == "x:\n  y: 1\n"
    assert render_template("{{ range .Values.names }}[{{ . }}]{{ end }}", values) == "[a][b]"
    assert render_template("m:{{ .Values.map | toYaml | nindent 2 }}", values) == "m:\n  k: 1"
    assert render_template('{{ .Values.empty | default "d" | quote }}', values) == '"d"'
    assert render_template("{{ .Values.names | toJson }}", values) == '["a","b"]'
    for unsupported in ('{{ include "x" . }}', "{{ .Values.on | upper }}", "{{ with .Values.map }}{{ end }}"):
        with pytest.raises(ValueError):
            render_template(unsupported, values)
    with pytest.raises(KeyError):
        render_template("{{ .Values.missing }}", values)


def test_the_chart_notes_warn_when_replicas_would_not_share_sessions() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    notes = (CHART / "templates" / "NOTES.txt").read_text()

    def rendered(overrides: Mapping[str, Any]) -> str:
        context = {
            "Values": _merged(values, overrides),
            "Release": {"Name": "portcullis", "Namespace": "tools", "Revision": 1, "Service": "Helm"},
            "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
        }
        return render_template(notes, context)

    assert "kubectl -n tools rollout status deployment/portcullis" in rendered({})
    assert "WARNING: redis.url is not set" in rendered({})
    assert "WARNING" not in rendered({"redis": {"url": "redis://redis:6379/0"}})


def test_probes_point_at_healthz_and_readyz_with_a_host_the_gateway_accepts() -> None:
    for where, deployment, objects in every_deployment():
        container = gateway_container(deployment)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{where}: {probe}"
            assert get["port"] in ("http", 8787), f"{where}: {probe}"
            # The kubelet would send Host: <pod IP>, which the gateway's Host check refuses (421).
            assert {"name": "Host", "value": "localhost"} in get.get("httpHeaders", []), f"{where}: {probe}"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == settings_of(objects)["port"], where


def test_the_gateway_runs_as_non_root_on_a_read_only_root_filesystem() -> None:
    for where, deployment, _ in every_deployment():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        assert pod.get("automountServiceAccountToken") is False, where
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, f"{where}: {container['name']}"
            assert context["allowPrivilegeEscalation"] is False, f"{where}: {container['name']}"
            assert context["capabilities"]["drop"] == ["ALL"], f"{where}: {container['name']}"
            assert "add" not in context["capabilities"], f"{where}: {container['name']}"
        # What the gateway writes lands on volumes: /tmp and its state directory, both emptyDir.
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in gateway_container(deployment)["volumeMounts"]}
        for path in WRITABLE:
            assert "emptyDir" in volumes[mounts[path]["name"]], f"{where}: {path}"
        assert mounts["/etc/portcullis"].get("readOnly") is True, where


def test_settings_write_only_to_the_writable_volumes() -> None:
    """The pid file and the SQLite state file (pins, PII vault, tenancy) would otherwise land
    beside the settings file: on the read-only ConfigMap volume or the image's root filesystem."""
    places = []
    for where, deployment, objects in every_deployment():
        settings = settings_of(objects)
        env = secret_env(deployment, objects)
        places.append((where, settings.get("ops", {}).get("pid_file", OpsSettings().pid_file)))
        default_store = settings.get("guardrails", {}).get("store", GuardrailsSettings().store)
        places.append((where, env.get("PORTCULLIS_GUARDRAILS__STORE", default_store)))
    image = tomllib.loads(IMAGE_SETTINGS.read_text())
    places += [("the image", image["ops"]["pid_file"]), ("the image", image["guardrails"]["store"])]
    compose_settings = tomllib.loads((DEPLOY / "compose" / "settings.toml").read_text())
    places += [
        ("compose", compose_settings["ops"]["pid_file"]),
        ("compose", compose_settings["guardrails"]["store"]),
    ]
    for where, path in places:
        if path.startswith(("redis://", "rediss://")) or path == "memory":
            continue
        assert path.startswith(tuple(f"{root}/" for root in WRITABLE)), f"{where}: {path} is not writable"


def test_the_grace_period_covers_the_pre_stop_pause_and_the_drain() -> None:
    for where, deployment, objects in every_deployment():
        pod = deployment["spec"]["template"]["spec"]
        command = gateway_container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep", where
        pause = float(command[1])
        drain = float(settings_of(objects)["ops"]["drain_timeout"])
        assert pause >= 3, f"{where}: endpoints need a moment to drop the pod before SIGTERM"
        assert drain >= 5, f"{where}: calls in flight get too little time"
        grace = pod["terminationGracePeriodSeconds"]
        assert grace > pause + drain + SHUTDOWN_GRACE, f"{where}: SIGKILL would cut the drain short"


def test_the_objects_point_at_each_other() -> None:
    for where, deployment, objects in every_deployment():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), where
        service = one(objects, "Service")
        assert service["spec"]["selector"].items() <= labels.items(), where
        named = {
            p["name"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= named, where
        pod = deployment["spec"]["template"]["spec"]
        config = one(objects, "ConfigMap")["metadata"]["name"]
        assert any(v.get("configMap", {}).get("name") == config for v in pod["volumes"]), where
        secrets = [obj["metadata"]["name"] for obj in objects if obj["kind"] == "Secret"]
        for variable in gateway_container(deployment).get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None and secrets:
                assert ref["name"] in secrets, f"{where}: {variable['name']}"
        for obj in objects:
            if obj["kind"] == "HorizontalPodAutoscaler":
                assert obj["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], where
                assert obj["spec"]["minReplicas"] >= 2, f"{where}: one replica cannot be drained safely"
            if obj["kind"] == "PodDisruptionBudget":
                assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items(), where
            if obj["kind"] == "NetworkPolicy":
                assert obj["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), where
                allowed = {p["port"] for rule in obj["spec"]["ingress"] for p in rule["ports"]}
                assert 8787 in allowed, f"{where}: the NetworkPolicy shuts out the MCP port"


def test_every_shipped_settings_file_passes_check(tmp_path: Path, redis: str) -> None:
    for where, deployment, objects in every_deployment():
        config = one(objects, "ConfigMap")["data"]["settings.toml"]
        result = portcullis_check(config, secret_env(deployment, objects), tmp_path, redis=redis)
        assert result.returncode == 0, f"{where}:\n{result.stderr}"


# ---- the image ------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.instructions if key == name]

    def last(self, name: str) -> str:
        found = self.all(name)
        assert found, f"no {name} in the final stage"
        return found[-1]


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", path.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append(Stage(rest.split()[0]))
        elif stages:
            stages[-1].instructions.append((instruction.upper(), " ".join(rest.split())))
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in stage.all("ENV"):
        for pair in shlex.split(value):
            name, _, setting = pair.partition("=")
            env[name] = setting
    return env


def test_the_image_runs_the_gateway_unprivileged_with_a_healthcheck() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: the build stage's pip and sources stay out of the image"
    final = stages[-1]
    user = final.last("USER").split(":")[0]
    assert user.isdigit() and int(user) != 0, "run as a numeric non-root uid (runAsNonRoot can check it)"
    healthcheck = final.last("HEALTHCHECK")
    assert '"python", "/opt/portcullis/healthcheck.py"' in healthcheck
    assert "COPY deploy/docker/healthcheck.py /opt/portcullis/healthcheck.py" in [
        f"COPY {v}" for v in final.all("COPY")
    ]
    volumes = json.loads(final.last("VOLUME"))
    assert set(volumes) == set(WRITABLE)
    env = env_of(final)
    for variable in ("HOME", "TMPDIR", "XDG_CACHE_HOME"):
        assert env[variable].startswith(WRITABLE), f"{variable} is on the read-only root filesystem"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert json.loads(final.last("ENTRYPOINT")) == ["portcullis"]
    command = json.loads(final.last("CMD"))
    assert command[0] == "serve"
    settings = command[command.index("--settings") + 1]
    assert f"COPY deploy/docker/settings.toml {settings}" in [f"COPY {v}" for v in final.all("COPY")]
    assert env["PORTCULLIS_SETTINGS"] == settings
    assert tomllib.loads(IMAGE_SETTINGS.read_text())["host"] == "0.0.0.0"
    assert "8787" in final.last("EXPOSE")


def test_the_image_and_the_test_install_use_the_same_steps() -> None:
    build = dockerfile_stages()[0]
    copies = [value.split() for value in build.all("COPY") if not value.startswith("--from")]
    sources = [source for *sources, _ in copies for source in sources if source != "./"]
    installer = next(dest for *src, dest in copies if src == ["deploy/docker/install.sh"])
    assert any(installer in run for run in build.all("RUN")), "the build stage runs deploy/docker/install.sh"
    tool = IMAGE_VENV_TOOL.read_text()
    copied = re.search(r"^COPIED=\((.*)\)$", tool, re.MULTILINE)
    assert copied, tool
    assert sorted(copied.group(1).split()) == sorted(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for source in sources:
        top = source.split("/")[0]
        assert f"!{source}" in ignore or f"!{top}/" in ignore or f"!{source.rsplit('/', 1)[0]}/" in ignore, (
            source
        )
    node = dockerfile_stages(DEPLOY / "Dockerfile.node")
    assert node[-1].last("USER") == dockerfile_stages()[-1].last("USER"), "the Node image drops root again"


def _venv_tool(name: str) -> str:
    """A linter the `test` extra installs into this venv (its binary ships in the wheel)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: pip install -e '.[test]' installs it"
    return found


def test_the_dockerfiles_pass_hadolint() -> None:
    dockerfiles = [str(DOCKERFILE), str(DEPLOY / "Dockerfile.node")]
    result = subprocess.run(
        [_venv_tool("hadolint"), "--no-color", *dockerfiles], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scripts_pass_shellcheck() -> None:
    scripts = [DEPLOY / "docker" / "install.sh", DEPLOY / "compose" / "make-env.sh", IMAGE_VENV_TOOL]
    result = subprocess.run(
        [_venv_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def image_venv() -> Path:
    """.tools/image-venv, built by tests/tools/build-image-venv.sh as deploy/Dockerfile builds
    /opt/portcullis (tests/run.sh runs it first; about a second when nothing changed)."""
    run = subprocess.run(["bash", str(IMAGE_VENV_TOOL)], capture_output=True, text=True, timeout=600)
    venv = Path(os.environ.get("PORTCULLIS_TOOLS_DIR", ROOT / ".tools")) / "image-venv"
    if run.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"installing as the image does failed:\n{run.stderr[-3000:]}")
        pytest.skip(f"installing as the image does failed (no package index?):\n{run.stderr[-1000:]}")
    return venv


def image_settings(tmp: Path) -> tuple[Path, Path, Path]:
    """The image's settings with its writable roots moved under ``tmp`` (as the volumes would be
    mounted), and those two directories."""
    scratch, state, etc = tmp / "tmp", tmp / "state", tmp / "etc"
    for directory in (scratch, state, etc):
        directory.mkdir()
    text = IMAGE_SETTINGS.read_text().replace("/var/lib/portcullis", str(state)).replace("/tmp", str(scratch))
    (etc / "settings.toml").write_text(text)
    return etc / "settings.toml", scratch, state


def test_the_image_install_refuses_to_serve_without_keys_and_accepts_them(
    image_venv: Path, tmp_path: Path
) -> None:
    settings, _, _ = image_settings(tmp_path)
    python = str(image_venv / "bin" / "python")
    refused = portcullis_check(settings.read_text(), {}, tmp_path, python)
    assert refused.returncode == 2
    assert "portcullis keygen" in refused.stderr and "'0.0.0.0'" in refused.stderr
    accepted = portcullis_check(
        settings.read_text(), {"PORTCULLIS_AUTH__API_KEYS": KEYS_JSON}, tmp_path, python
    )
    assert accepted.returncode == 0, accepted.stderr


@contextlib.contextmanager
def serving(
    command: list[str], env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def test_the_image_install_serves_and_its_healthcheck_passes(image_venv: Path, tmp_path: Path) -> None:
    settings, scratch, state = image_settings(tmp_path)
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    env_file = env_of(dockerfile_stages()[-1])
    env = {
        **clean,
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "XDG_CACHE_HOME": str(scratch / ".cache"),
        "PYTHONDONTWRITEBYTECODE": env_file["PYTHONDONTWRITEBYTECODE"],
        "PORTCULLIS_PORT": str(port),
        "PORTCULLIS_AUTH__API_KEYS": KEYS_JSON,
    }
    command = json.loads(dockerfile_stages()[-1].last("CMD"))
    command[command.index("--settings") + 1] = str(settings)
    healthcheck = [str(image_venv / "bin" / "python"), str(DEPLOY / "docker" / "healthcheck.py")]
    log = tmp_path / "serve.log"
    before = sorted(p.name for p in settings.parent.iterdir())
    with serving([str(image_venv / "bin" / "portcullis"), *command], env, state, log) as process:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            check = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=10)
            if check.returncode == 0:
                break
            assert time.monotonic() < deadline, f"{check.stderr}\n{log.read_text()}"
            time.sleep(0.2)
        assert f"serving http://0.0.0.0:{port}/mcp" in log.read_text()
        # A kubelet's probe would say Host: <pod IP>:<port>, refused; the manifests send localhost.
        assert (
            httpx2.get(f"http://127.0.0.1:{port}/healthz", headers={"host": f"10.1.2.3:{port}"}).status_code
            == 421
        )
        assert httpx2.get(f"http://127.0.0.1:{port}/readyz", headers={"host": "localhost"}).status_code == 200
    assert process.returncode == 0, log.read_text()
    stopped = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=10)
    assert stopped.returncode == 1, "the healthcheck passes with no gateway"
    # Nothing was written beside the (read-only) settings file.
    assert sorted(p.name for p in settings.parent.iterdir()) == before


# ---- Compose --------------------------------------------------------------------------------------


def compose() -> Any:
    return yaml.safe_load(COMPOSE.read_text())


def gateway_services(services: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: s for name, s in services.items() if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def test_compose_wires_two_replicas_behind_nginx_with_redis_traces_and_monitoring() -> None:
    services = compose()["services"]
    assert {"nginx", "redis", "otel-collector", "prometheus", "grafana"} <= set(services)
    gateways = gateway_services(services)
    assert len(gateways) == 2
    for name, service in {**services}.items():
        assert "image" in service, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector")
    settings_path = None
    for name, service in gateways.items():
        assert (ROOT / service["build"]["context"].replace("..", ".")).resolve() == ROOT, name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["user"].split(":")[0] != "0", name
        assert "/tmp" in service["tmpfs"], name
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        settings_path = mounts[service["command"][service["command"].index("--settings") + 1]]
        assert "PORTCULLIS_AUTH__API_KEYS" in service["environment"], name
    assert settings_path is not None
    settings = tomllib.loads((DEPLOY / settings_path).read_text())
    assert settings["redis"]["url"] == "redis://redis:6379/0"
    assert settings["host"] == "0.0.0.0"
    traces = settings["telemetry"]["traces"]
    assert traces["enabled"] is True
    assert re.fullmatch(r"http://otel-collector:4318/v1/traces", traces["endpoint"])
    for name, service in gateways.items():
        grace = float(service["stop_grace_period"].rstrip("s"))
        assert grace > settings["ops"]["drain_timeout"] + SHUTDOWN_GRACE, name

    # The collector receives OTLP/HTTP on the port the settings name.
    collector_mount = next(v for v in services["otel-collector"]["volumes"] if v.endswith(":ro"))
    collector = yaml.safe_load((DEPLOY / collector_mount.split(":")[0]).read_text())
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    for pipeline in collector["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(collector.get(kind) or {}), kind

    # nginx balances over exactly the gateway replicas, on their port.
    nginx = (DEPLOY / "nginx" / "nginx.conf").read_text()
    upstream = re.search(r"upstream portcullis \{(.*?)\}", nginx, re.DOTALL)
    assert upstream
    assert sorted(re.findall(r"server ([\w-]+):8787", upstream.group(1))) == sorted(gateways)
    assert "proxy_buffering off" in nginx and "ip_hash" not in upstream.group(1)

    # Prometheus scrapes both replicas and loads deploy/prometheus/alerts.yml.
    prometheus = services["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    config = yaml.safe_load((DEPLOY / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{name}:8787" for name in gateways)
    assert mounts[config["rule_files"][0]] == "./prometheus/alerts.yml"
    assert settings["telemetry"]["metrics"]["public"] is True  # inside the compose network only
    assert set(gateways) <= set(settings["http"]["allowed_hosts"])  # Prometheus sends Host: gateway-N

    # Grafana gets the dashboard of deploy/grafana and Prometheus as its data source.
    grafana = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    assert grafana["/var/lib/grafana/dashboards/portcullis.json"] == "./grafana/portcullis.json"
    sources = yaml.safe_load(
        (DEPLOY / grafana["/etc/grafana/provisioning/datasources"] / "prometheus.yml").read_text()
    )
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"


def test_make_env_writes_what_compose_needs_and_the_settings_pass_check(tmp_path: Path, redis: str) -> None:
    """deploy/compose/make-env.sh writes deploy/.env: every variable compose.yaml requires, the
    hash of the key it prints once; with them the compose settings pass ``portcullis check``."""
    out = tmp_path / ".env"
    program = {"PORTCULLIS": str(Path(sys.executable).parent / "portcullis")}
    made = subprocess.run(
        ["bash", str(DEPLOY / "compose" / "make-env.sh"), str(out), "agents"],
        capture_output=True,
        text=True,
        env={**os.environ, **program},
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    env = {name: value.strip("'") for name, value in env.items()}
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert set(env) == required
    key = re.search(r"(pcs_[\w-]+)", made.stdout)
    assert key and key.group(1) not in out.read_text()
    assert json.loads(env["PORTCULLIS_AUTH__API_KEYS"]) == [
        {"principal": "agents", "sha256": hash_key(key.group(1))}
    ]
    assert out.stat().st_mode & 0o077 == 0, "the .env is readable by others"
    again = subprocess.run(
        ["bash", str(DEPLOY / "compose" / "make-env.sh"), str(out)], capture_output=True, text=True
    )
    assert again.returncode == 2 and "exists" in again.stderr, "it overwrote the keys"

    gateway = next(iter(gateway_services(compose()["services"]).values()))
    assert set(gateway["environment"]) - {"PORTCULLIS_SETTINGS"} == required
    settings = (DEPLOY / "compose" / "settings.toml").read_text()
    result = portcullis_check(settings, env, tmp_path, redis=redis)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here: checked by reading the file instead")
    env = {
        **os.environ,
        **{k: "x" * 40 for k in compose()["x-gateway"]["environment"] if k != "PORTCULLIS_SETTINGS"},
    }
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr


def _tool(variable: str, name: str, installer: str) -> str:
    """A tool the project's installers provide (tests/run.sh runs them); skipped only off CI."""
    found = os.environ.get(variable) or shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is needed on CI: tests/tools/{installer} installs it")
    pytest.skip(f"{name} is not installed: tests/tools/{installer} installs it")


def test_the_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    """``nginx -t`` on deploy/nginx/nginx.conf, the replicas' names pointed at 127.0.0.1 (nginx
    resolves upstream names when it loads the file; here there is no compose network)."""
    nginx = _tool("NGINX", "nginx", "ensure-nginx.sh")
    config = (DEPLOY / "nginx" / "nginx.conf").read_text()
    for name in gateway_services(compose()["services"]):
        config = config.replace(f"server {name}:", "server 127.0.0.1:")
    path = tmp_path / "nginx.conf"
    path.write_text(config)
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_the_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """``promtool check config`` on deploy/compose/prometheus.yml, with its rule file where the
    compose file mounts it from (deploy/prometheus/alerts.yml)."""
    promtool = _tool("PROMTOOL", "promtool", "ensure-promtool.sh")
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
