"""Checks for cluster-configs/: the launcher YAMLs, the KubeRay manifest and the
one-machine multi-node script.

The configs describe the same cluster three ways (Ray cluster launcher on your
machines, on AWS, and KubeRay). What faber-ray depends on is how `ray start`
is called on each node: the `faber_ray_sandbox` resource marks sandbox hosts,
metrics are exported on a fixed port, token auth is on. local.yaml is the
reference; the other files must agree with it.

Only the test marked `multinode_script` starts Ray, and it does so in
subprocesses with their own ports and temp dir, so it cannot disturb a Ray
instance the rest of the test suite runs in-process.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import ray
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "cluster-configs"
LAUNCHER_CONFIGS = ["local.yaml", "aws.yaml"]
SCRIPT = CONFIGS / "try-local-multinode.sh"
SANDBOX_RESOURCE = "faber_ray_sandbox"

# `ray start` flags that say how a node joins rather than what it offers: the
# launcher and KubeRay each set these their own way, so they are not compared.
JOINING_FLAGS = {"head", "port", "address", "autoscaling-config", "block"}


def load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())


# --- parsing `ray start` out of shell commands ---------------------------------


def ray_start_calls(command: str) -> list[tuple[dict[str, str], dict[str, object]]]:
    """The `ray start` calls in one shell command line: (env assignments, flags)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    simple_commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";&|"):
            simple_commands.append([])
        else:
            simple_commands[-1].append(token)
    calls = []
    for words in simple_commands:
        env = {}
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words[:2] == ["ray", "start"]:
            calls.append((env, parse_flags(words[2:])))
    return calls


def parse_flags(args: list[str]) -> dict[str, object]:
    """`--name=value`, `--name value` and bare `--flag` (True)."""
    flags: dict[str, object] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        assert arg.startswith("--"), f"unexpected argument {arg!r} to ray start"
        name, has_value, value = arg[2:].partition("=")
        if has_value:
            flags[name] = value
        elif index + 1 < len(args) and not args[index + 1].startswith("--"):
            index += 1
            flags[name] = args[index]
        else:
            flags[name] = True
        index += 1
    return flags


def normalized(flags: dict[str, object]) -> dict[str, object]:
    """Values as Ray reads them: resources as a dict, everything else as a string."""
    result: dict[str, object] = {}
    for name, value in flags.items():
        if name in JOINING_FLAGS:
            continue
        result[name] = json.loads(value) if name == "resources" else str(value).lower() if value is True else str(value)
    return result


def the_ray_start(commands: list[str]) -> tuple[dict[str, str], dict[str, object]]:
    calls = [call for command in commands for call in ray_start_calls(command)]
    assert len(calls) == 1, f"expected exactly one `ray start` in {commands}"
    return calls[0]


def kuberay_params(params: dict[str, str]) -> dict[str, object]:
    """rayStartParams as `ray start` receives them.

    KubeRay pastes `--name=value` into a `bash -lc` command line, so a value
    goes through one round of shell word splitting and quote removal.
    """
    flags = {}
    for name, value in params.items():
        assert isinstance(value, str), f"rayStartParams.{name} must be a string, got {value!r}"
        words = shlex.split(value)
        assert len(words) == 1, f"rayStartParams.{name}={value!r} would split into {words}"
        flags[name] = words[0]
    return normalized(flags)


@pytest.fixture(scope="module")
def local_head() -> tuple[dict[str, str], dict[str, object]]:
    return the_ray_start(load("local.yaml")["head_start_ray_commands"])


@pytest.fixture(scope="module")
def local_worker() -> tuple[dict[str, str], dict[str, object]]:
    return the_ray_start(load("local.yaml")["worker_start_ray_commands"])


def test_parser_understands_the_command_shapes_we_use() -> None:
    command = """ulimit -n 65536; RAY_AUTH_MODE=token ray start --head --port=6379 --resources='{"a": 1}' --x y"""
    assert ray_start_calls(command) == [
        ({"RAY_AUTH_MODE": "token"}, {"head": True, "port": "6379", "resources": '{"a": 1}', "x": "y"})
    ]
    assert ray_start_calls("ray stop && echo ray start") == []


# --- (a) launcher configs --------------------------------------------------------


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_matches_rays_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(load(name), schema)


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_survives_ray_up_preparation(name: str) -> None:
    """What `ray up` does before it contacts any machine: fill in the provider's
    defaults, turn head_ip/worker_ips into node types, validate the result."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(load(name)))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_every_node_gets_the_repo_the_token_and_the_setup(name: str) -> None:
    config = load(name)
    mounts = config["file_mounts"]
    assert "~/faber-ray" in mounts, "the repo must be synced to ~/faber-ray"
    # The token file goes to the default path on every node, where ray start finds it.
    assert mounts.get("~/.ray/auth_token") == "~/.ray/auth_token"
    assert any("bash ~/faber-ray/scripts/setup" in c for c in config["setup_commands"])
    assert any("chmod 600 ~/.ray/auth_token" in c for c in config["setup_commands"])
    assert any("RAY_AUTH_MODE=token" in c for c in config["initialization_commands"])


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
@pytest.mark.parametrize("kind", ["head", "worker"])
def test_ray_start_sets_what_faber_ray_needs(name: str, kind: str) -> None:
    env, flags = the_ray_start(load(name)[f"{kind}_start_ray_commands"])
    # Explicit, so a node without the token refuses to start (a joining worker
    # would not even try to authenticate without it).
    assert env.get("RAY_AUTH_MODE") == "token"
    assert json.loads(flags["resources"]).get(SANDBOX_RESOURCE, 0) >= 1
    assert flags["metrics-export-port"] == "8080"
    if kind == "head":
        assert flags["head"] is True
        assert flags["port"] == "6379"
        assert flags["autoscaling-config"] == "~/ray_bootstrap_config.yaml"
        assert "dashboard-host" in flags
    else:
        assert flags["address"] == "$RAY_HEAD_IP:6379"


@pytest.mark.parametrize("kind", ["head", "worker"])
def test_aws_starts_ray_exactly_like_local(kind: str) -> None:
    local = the_ray_start(load("local.yaml")[f"{kind}_start_ray_commands"])
    aws = the_ray_start(load("aws.yaml")[f"{kind}_start_ray_commands"])
    assert aws == local


def test_aws_node_types_advertise_the_sandbox_resource() -> None:
    # The autoscaler passes these to ray start (RAY_OVERRIDE_RESOURCES), where
    # they would win over --resources: they must agree.
    for name, node_type in load("aws.yaml")["available_node_types"].items():
        assert node_type["resources"].get(SANDBOX_RESOURCE, 0) >= 1, name


def test_placeholders_are_placeholders() -> None:
    local = load("local.yaml")["provider"]
    for ip in [local["head_ip"], *local["worker_ips"]]:
        assert ip.startswith("192.0.2."), f"{ip}: keep RFC 5737 documentation addresses in the template"
    for node_type in load("aws.yaml")["available_node_types"].values():
        assert "REPLACE" in node_type["node_config"]["ImageId"]


# --- (b) KubeRay -------------------------------------------------------------------


@pytest.fixture(scope="module")
def raycluster() -> dict:
    documents = [d for d in yaml.safe_load_all((CONFIGS / "kuberay.yaml").read_text()) if d]
    assert len(documents) == 1
    return documents[0]


def groups(raycluster: dict) -> list[tuple[str, dict]]:
    spec = raycluster["spec"]
    return [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]


def test_raycluster_matches_the_installed_ray(raycluster: dict) -> None:
    assert raycluster["apiVersion"] == "ray.io/v1"
    assert raycluster["kind"] == "RayCluster"
    assert raycluster["spec"]["rayVersion"] == ray.__version__
    assert raycluster["spec"]["authOptions"] == {"mode": "token"}


def test_raycluster_images_match_ray_version(raycluster: dict) -> None:
    for name, group in groups(raycluster):
        image = group["template"]["spec"]["containers"][0]["image"]
        repository, _, tag = image.partition(":")
        assert repository == "rayproject/ray", name
        assert re.fullmatch(re.escape(ray.__version__) + r"-py3\d+", tag), f"{name}: {image}"
    # The Dockerfile in the header comment builds FROM the same image.
    image = raycluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    assert f"FROM {image}" in (CONFIGS / "kuberay.yaml").read_text()


def test_raycluster_head_starts_like_local_head(raycluster: dict, local_head) -> None:
    _, flags = local_head
    params = raycluster["spec"]["headGroupSpec"]["rayStartParams"]
    assert kuberay_params(params) == normalized(flags)


def test_raycluster_workers_start_like_local_workers(raycluster: dict, local_worker) -> None:
    _, flags = local_worker
    for group in raycluster["spec"]["workerGroupSpecs"]:
        assert kuberay_params(group["rayStartParams"]) == normalized(flags), group["groupName"]


def test_rays_kuberay_reader_sees_the_sandbox_resource(raycluster: dict) -> None:
    """Ray's autoscaler parses the CR itself; this catches quoting mistakes in
    `resources` that a plain YAML check would not."""
    try:
        from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr
    except ImportError:  # private API: moved in another Ray version
        pytest.skip("Ray's KubeRay config reader is not importable")
    cr = copy.deepcopy(raycluster)
    cr["metadata"].setdefault("namespace", "default")
    config = _derive_autoscaling_config_from_ray_cr(cr)
    for name, node_type in config["available_node_types"].items():
        assert node_type["resources"].get(SANDBOX_RESOURCE) == 1, name


def test_raycluster_pods_reach_docker_and_share_the_agent_path(raycluster: dict) -> None:
    for name, group in groups(raycluster):
        pod = group["template"]["spec"]
        container = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        assert mounts["/var/run/docker.sock"]["hostPath"] == {"path": "/var/run/docker.sock", "type": "Socket"}, name
        # Docker resolves bind-mount sources on the node: the agent's directory
        # must have the same path inside the pod and on the node.
        env = {e["name"]: e.get("value") for e in container["env"]}
        agent = env["FABER_RAY_AGENT_DIR"]
        assert mounts[agent]["hostPath"]["path"] == agent, name
        assert mounts[env["FABER_RAY_CGROUP_ROOT"]]["hostPath"]["path"] == "/sys/fs/cgroup", name


def test_raycluster_head_and_workers_have_the_same_pod_setup(raycluster: dict) -> None:
    def essentials(group: dict) -> tuple:
        pod = group["template"]["spec"]
        container = pod["containers"][0]
        return (
            container["image"],
            container.get("securityContext"),
            container["env"],
            container["volumeMounts"],
            pod["volumes"],
            pod.get("affinity"),
        )

    head = essentials(raycluster["spec"]["headGroupSpec"])
    for group in raycluster["spec"]["workerGroupSpecs"]:
        assert essentials(group) == head, group["groupName"]


# --- (c) try-local-multinode.sh ----------------------------------------------------

# Not the script's defaults (6390, ...), so a demo cluster someone left running
# does not collide with the test; and clear of a default `ray start --head`.
TEST_PORTS = {
    "FABER_RAY_MN_PORT": 6490,
    "FABER_RAY_MN_DASHBOARD_PORT": 8475,
    "FABER_RAY_MN_METRICS_PORT": 8190,
    "FABER_RAY_MN_AGENT_PORT": 52480,
    "FABER_RAY_MN_WORKER_PORTS": 24000,
}
NODES = 3

NODES_PROBE = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
deadline = time.monotonic() + 15
while True:
    nodes = [
        {"alive": n["Alive"], "node_id": n["NodeID"], "head": "node:__internal_head__" in n["Resources"],
         "sandbox": n["Resources"].get("faber_ray_sandbox", 0)}
        for n in ray.nodes()
    ]
    if sum(n["alive"] and n["sandbox"] for n in nodes) >= int(sys.argv[2]) or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps(nodes))
"""


def ports_in_use() -> list[int]:
    base = TEST_PORTS["FABER_RAY_MN_PORT"]
    wanted = [base, base + 1, TEST_PORTS["FABER_RAY_MN_DASHBOARD_PORT"]]
    for i in range(NODES):
        wanted += [base + 10 + 2 * i, base + 11 + 2 * i]
        wanted += [TEST_PORTS["FABER_RAY_MN_METRICS_PORT"] + i, TEST_PORTS["FABER_RAY_MN_AGENT_PORT"] + i]
    busy = []
    for port in wanted:
        with socket.socket() as s:
            # As servers bind: connections of an earlier run lingering in
            # TIME_WAIT do not make a port unusable.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("", port))
            except OSError:
                busy.append(port)
    return busy


def processes_mentioning(text: str) -> list[str]:
    ps = subprocess.run(["ps", "-ww", "-eo", "pid=,stat=,args="], capture_output=True, text=True, check=True)
    own = str(os.getpid())
    return [
        line
        for line in ps.stdout.splitlines()
        if text in line and line.split()[0] != own and not line.split()[1].startswith("Z")
    ]


def gcs_rejects_token(address: str, token: str, env: dict[str, str]) -> bool:
    """Whether a driver presenting `token` is refused by the GCS at `address`.

    A refused driver keeps retrying for about 20 s before it gives up, so we
    stop it as soon as it reports the refusal instead of waiting it out.
    """
    driver = subprocess.Popen(
        [sys.executable, "-c", f"import ray; ray.init(address={address!r}); print('CONNECTED')"],
        env={**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(45, driver.kill)
    watchdog.start()
    try:
        for line in driver.stdout:
            if "InvalidAuthToken" in line:
                return True
            if "CONNECTED" in line:
                return False
        return False
    finally:
        watchdog.cancel()
        driver.kill()
        driver.wait()


@pytest.mark.multinode_script
def test_try_local_multinode_script_up_and_down() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the script is Linux-only")
    for tool in ("ray", "setsid", "ps"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not on PATH")
    if busy := ports_in_use():
        pytest.skip(f"ports the test needs are in use: {busy}")

    # A short path: Ray puts unix sockets under --temp-dir (107-byte limit),
    # so pytest's tmp_path is too long.
    state = Path(tempfile.mkdtemp(prefix="frmn-", dir="/tmp"))
    # No RAY_* from the surroundings: the pytest process may itself be a Ray
    # driver, and a stray RAY_ADDRESS or token would change what the script does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({k: str(v) for k, v in TEST_PORTS.items()})
    env.update(
        FABER_RAY_MN_DIR=str(state),
        FABER_RAY_MN_WORKERS=str(NODES - 1),
        FABER_RAY_MN_CPUS="1",
        FABER_RAY_MN_PYTHON=sys.executable,
    )
    address = f"127.0.0.1:{TEST_PORTS['FABER_RAY_MN_PORT']}"
    client_env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(state / "auth_token")}

    def run(args: list[str], timeout: float, run_env: dict[str, str] = env) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=timeout)

    try:
        # About 20 s on an idle 2-core machine; much more when it is busy.
        up = run(["bash", str(SCRIPT), "up"], timeout=180)
        assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"

        # Checked from a separate driver process, never from pytest's own.
        probe = run([sys.executable, "-c", NODES_PROBE, address, str(NODES)], timeout=60, run_env=client_env)
        assert probe.returncode == 0, probe.stderr
        nodes = json.loads(probe.stdout.strip().splitlines()[-1])
        alive = [n for n in nodes if n["alive"]]
        assert len(alive) == NODES, nodes
        assert all(n["sandbox"] >= 1 for n in alive), nodes
        assert sum(n["head"] for n in alive) == 1, nodes

        # Token auth is really on: the GCS turns away a driver with the wrong token.
        assert gcs_rejects_token(address, "not-the-token", env)

        # `up` started the shared executor; a batch through it spreads over every node.
        demo = run(["bash", str(SCRIPT), "demo", "12"], timeout=240)
        assert demo.returncode == 0, f"demo failed:\n{demo.stdout}\n{demo.stderr}"
        results = [json.loads(line) for line in (state / "demo-results.jsonl").read_text().splitlines() if line]
        assert sorted(r["line"] for r in results) == list(range(1, 13))
        assert {r["status"] for r in results} == {"SUCCESS"}
        demo_nodes = {r["node_id"] for r in results}
        assert demo_nodes == {n["node_id"] for n in alive}, (demo_nodes, nodes)
    finally:
        down = run(["bash", str(SCRIPT), "down"], timeout=60)
        leftovers = processes_mentioning(f"{state}/")
        shutil.rmtree(state, ignore_errors=True)
    assert down.returncode == 0, f"down failed:\n{down.stdout}\n{down.stderr}"
    assert leftovers == [], "Ray processes survived `down`:\n" + "\n".join(leftovers)
    # `down` stopped the shared executor first, which removed its sandboxes.
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=faber-ray", *[f"--filter=label=faber-ray.node-id={n}" for n in demo_nodes]],
        capture_output=True, text=True,
    ).stdout.split()
    assert left == []
    # Safe to run twice (the state dir is gone by now, which it must also survive).
    again = run(["bash", str(SCRIPT), "down"], timeout=30)
    assert again.returncode == 0, again.stderr
