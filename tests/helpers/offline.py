"""Run a command with the network cut: in a network namespace with no interfaces where one
can be made (``unshare -rn``), otherwise with sockets blocked inside Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NETBLOCK = Path(__file__).parent / "netblock"
NAMESPACE, SOCKET_GUARD = "namespace", "socket-guard"  # the two ways the network is cut
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection(('93.184.215.14', 80), timeout=3)\n"
    "except OSError as e:\n"
    "    print('blocked', e.errno); sys.exit(0)\n"
    "print('connected'); sys.exit(1)\n"
)


def _unshare_works() -> bool:
    if os.environ.get("PROVENA_TEST_NO_UNSHARE") or not shutil.which("unshare"):
        return False
    proc = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return proc.returncode == 0


def offline_mode() -> str:
    """How :func:`offline_env` cuts the network here: :data:`NAMESPACE` (``unshare -rn``, a
    network namespace with no interfaces) where one can be made, else :data:`SOCKET_GUARD`."""
    return NAMESPACE if _unshare_works() else SOCKET_GUARD


def offline_env(env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(command prefix, environment) that cut the network for a child process."""
    env = dict(env or os.environ)
    # dvc runs stage commands as `python ...`: make that the interpreter running the tests
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        DVC_NO_ANALYTICS="1",
        NO_PROXY="*",
    )
    if offline_mode() == NAMESPACE:
        return ["unshare", "-rn"], env
    env["PYTHONPATH"] = os.pathsep.join([str(NETBLOCK), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    return [], env


def probe_offline(prefix: list[str], env: dict[str, str]) -> str:
    """Try a connection the way a child would; fail unless it was refused. Returns the
    probe's line ('blocked <errno>')."""
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", PROBE], env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0 and probe.stdout.startswith("blocked"), (
        f"the network is not cut for the child process: {probe.stdout}{probe.stderr}"
    )
    return probe.stdout.strip()


def run_offline(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` with the network cut (checked by a probe first). The result carries
    ``offline_mode`` (how it was cut) and ``offline_probe`` (what the probe saw)."""
    mode = offline_mode()
    prefix, env = offline_env(kwargs.pop("env", None))
    seen = probe_offline(prefix, env)
    proc = subprocess.run([*prefix, *cmd], env=env, capture_output=True, text=True, **kwargs)
    proc.offline_mode, proc.offline_probe = mode, seen  # type: ignore[attr-defined]
    return proc
