"""``generec stack up|down|status``: the production topology on one machine, from real engines.

    generec stack up     [--dir DIR]   # start what is not running yet; prints the status
    generec stack status [--dir DIR]   # what runs where, with the UI URL
    generec stack down   [--dir DIR]   # stop every process it started, by process group

Each part stands for one piece of a real deployment (README, "Scaling out"):

- ``postgres``: Airflow's metadata DB (a managed PostgreSQL in production);
- ``redis``: the Celery broker (managed Redis, or SQS);
- ``s3``: SeaweedFS, the ``s3://generec`` object store the pipeline reads and publishes to (S3);
- ``spark-master``, ``spark-worker-1/2``: a Spark standalone cluster; the Spark stages are
  spark-submitted to it through the ``generec_spark`` connection (``GENEREC_SPARK_CONN_ID``)
  (Spark on YARN or Kubernetes reading ``s3a://``);
- ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``: Airflow 3 with the CeleryExecutor;
- ``worker-default``: a Celery worker on the ``default`` queue (CPU nodes);
- ``worker-gpu``: a Celery worker on the ``gpu`` queue with as many slots as the ``gpu`` pool
  (GPU nodes).

Everything binds 127.0.0.1 on free ports chosen at the first ``up`` and kept in
``DIR/stack.json`` with the process ids; logs go to ``DIR/logs/``. Generated credentials (the
object store's keys, Airflow's signing secrets) live only in ``DIR/secrets.json`` (mode 600) and
the processes' environment, never in code or logs. ``up`` is idempotent: a process that died
(a killed worker) is started again, the rest are left alone. Environment variables the caller
sets (``GENEREC_*``, ``AIRFLOW__*``) reach every Airflow process, e.g. ``GENEREC_NIGHTLY_CRON=off``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUCKET = "generec"
SPARK_CONN_ID = "generec_spark"
GPU_SLOTS = 1  # the gpu pool's size, and so the gpu worker's concurrency: one task per GPU
DEFAULT_SLOTS = 2  # the default worker's concurrency (2 cores here)
SPARK_WORKERS = 2
STOP_GRACE_S = 15
PORT_NAMES = ("postgres", "redis", "s3", "api", "spark", "spark_ui", "spark_worker_ui_1", "spark_worker_ui_2")


def default_dir() -> Path:
    return Path(os.environ.get("GENEREC_STACK_DIR", Path.home() / ".generec" / "stack"))


@dataclass(frozen=True)
class Service:
    """One long-running process of the stack: how to start it and how to tell it is ready."""

    name: str
    role: str  # what it stands for in a real deployment (printed by status)
    command: list[str]
    ready: Callable[[], bool]
    address: str = ""
    env: dict[str, str] | None = None
    user: str | None = None  # run as this user (PostgreSQL refuses to run as root)


class Stack:
    """The stack rooted at one state directory: its ports, secrets, services and processes."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir.resolve()
        self.state_file = self.dir / "stack.json"
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    # ---- persistent state -------------------------------------------------------------------
    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.state, indent=2, sort_keys=True))

    @property
    def ports(self) -> dict[str, int]:
        """Chosen once, at the first use of this state directory (another process may have chosen them)."""
        if "ports" not in self.state and self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        if "ports" not in self.state:
            self.state["ports"] = {name: free_port() for name in PORT_NAMES}
            self._save()
        return self.state["ports"]

    @property
    def secrets(self) -> dict[str, str]:
        path = self.dir / "secrets.json"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            values = {"s3_access_key": "generec" + secrets.token_hex(4), "s3_secret_key": secrets.token_hex(20),
                      "jwt_secret": secrets.token_urlsafe(64), "api_secret_key": secrets.token_urlsafe(32)}
            path.touch(mode=0o600)
            path.write_text(json.dumps(values))
        return json.loads(path.read_text())

    # ---- addresses ----------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def spark_master(self) -> str:
        return f"spark://127.0.0.1:{self.ports['spark']}"

    @property
    def spark_status_url(self) -> str:
        """The standalone master's JSON status: workers, active and completed applications."""
        return f"http://127.0.0.1:{self.ports['spark_ui']}/json/"

    def s3_env(self) -> dict[str, str]:
        """What a boto3 client (and the pipeline) needs to reach the stack's object store."""
        keys = self.secrets
        return {"AWS_ENDPOINT_URL": self.s3_endpoint, "AWS_ACCESS_KEY_ID": keys["s3_access_key"],
                "AWS_SECRET_ACCESS_KEY": keys["s3_secret_key"], "AWS_DEFAULT_REGION": "us-east-1"}

    def airflow_env(self) -> dict[str, str]:
        """The environment every Airflow process shares (and the CLI needs to talk to this stack)."""
        db = f"airflow@127.0.0.1:{self.ports['postgres']}/airflow"
        keys = self.secrets
        return {
            **self.s3_env(),
            "AIRFLOW_HOME": str(self.dir / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "jobs.stack.worker_name",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{db}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.ports["api"]),
            "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            # a worker killed mid-task stops heartbeating: fail (and so retry) its task after a minute
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            # and a task whose broker message went down with a worker is queued again after 5 minutes
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW_CONN_" + SPARK_CONN_ID.upper(): json.dumps({
                "conn_type": "spark", "host": "spark://127.0.0.1", "port": self.ports["spark"],
                "extra": {"deploy-mode": "client"}}),
            "GENEREC_SPARK_CONN_ID": SPARK_CONN_ID,
            # this Spark has no s3a:// jars: the Spark stages mirror their inputs (spark_mirror.py)
            "GENEREC_SPARK_IO": "mirror",
            "GENEREC_ROOT": os.environ.get("GENEREC_ROOT", f"s3://{BUCKET}/data"),
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    # ---- the services -----------------------------------------------------------------------
    def services(self) -> list[Service]:
        """In start order: storage and brokers, the Spark cluster, then Airflow."""
        p, d = self.ports, self.dir
        spark_class = str(_spark_home() / "bin" / "spark-class")
        spark_env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
                     "SPARK_WORKER_DIR": str(d / "spark")}
        airflow = [str(BIN / "airflow")]
        env = {**os.environ, **self.airflow_env()}
        out = [
            Service("postgres", "Airflow metadata DB (managed PostgreSQL)",
                    [pg_bin("postgres"), "-D", str(self.postgres_dir), "-p", str(p["postgres"]),
                     "-c", "listen_addresses=127.0.0.1", "-k", str(self.postgres_dir)],
                    lambda: port_open(p["postgres"]), f"127.0.0.1:{p['postgres']}", user=postgres_user()),
            Service("redis", "Celery broker (managed Redis or SQS)",
                    [shutil.which("redis-server") or "redis-server", "--port", str(p["redis"]), "--bind", "127.0.0.1",
                     "--dir", str(d / "redis"), "--save", "", "--appendonly", "no"],
                    lambda: port_open(p["redis"]), f"redis://127.0.0.1:{p['redis']}"),
            Service("s3", "object store: the catalog and every dataset (S3)",
                    [str(BIN / "weed"), "mini", f"-dir={d / 's3'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                     f"-s3.port={p['s3']}", f"-s3.config={self._s3_identities()}"],
                    self._bucket_ready, self.s3_endpoint),
            Service("spark-master", "Spark cluster manager (YARN or Kubernetes)",
                    [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                     "--port", str(p["spark"]), "--webui-port", str(p["spark_ui"])],
                    lambda: _http_ok(self.spark_status_url), self.spark_master, env=spark_env),
        ]
        for n in range(1, SPARK_WORKERS + 1):
            out.append(Service(
                f"spark-worker-{n}", "Spark executors' node",
                [spark_class, "org.apache.spark.deploy.worker.Worker", self.spark_master, "--host", "127.0.0.1",
                 "--webui-port", str(p[f"spark_worker_ui_{n}"]), "--cores", "1", "--memory", "2g",
                 "--work-dir", str(d / "spark" / f"worker-{n}")],
                lambda n=n: self._spark_workers_alive() >= n, f"127.0.0.1:{p[f'spark_worker_ui_{n}']}",
                env=spark_env))
        out += [
            Service("api-server", "Airflow UI and REST API", [*airflow, "api-server"],
                    lambda: _http_ok(f"{self.api_url}/api/v2/monitor/health"), self.api_url, env=env),
            Service("scheduler", "Airflow scheduler", [*airflow, "scheduler"],
                    lambda: True, env=env),
            Service("dag-processor", "Airflow DAG processor", [*airflow, "dag-processor"],
                    lambda: True, env=env),
            Service("triggerer", "Airflow triggerer (deadline alerts)", [*airflow, "triggerer"],
                    lambda: True, env=env),
            Service("worker-default", "Celery worker, queue `default` (CPU nodes)",
                    [*airflow, "celery", "worker", "--queues", "default", "--concurrency", str(DEFAULT_SLOTS),
                     "--celery-hostname", "default@%h"], lambda: True,
                    env={**env, "GENEREC_WORKER_NAME": "worker-default"}),
            Service("worker-gpu", "Celery worker, queue `gpu` (GPU nodes)",
                    [*airflow, "celery", "worker", "--queues", "gpu", "--concurrency", str(GPU_SLOTS),
                     "--celery-hostname", "gpu@%h"], lambda: True,
                    env={**env, "GENEREC_WORKER_NAME": "worker-gpu"}),
        ]
        return out

    def _s3_identities(self) -> Path:
        """SeaweedFS's identity file: one admin key pair (the generated secrets), mode 600; written once."""
        path = self.dir / "s3-identities.json"
        if path.exists():
            return path
        keys = self.secrets
        path.touch(mode=0o600)
        path.write_text(json.dumps({"identities": [{
            "name": "generec", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            "credentials": [{"accessKey": keys["s3_access_key"], "secretKey": keys["s3_secret_key"]}]}]}))
        return path

    def _bucket_ready(self) -> bool:
        """The S3 API answers and the ``generec`` bucket exists (created on the first start)."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        env = self.s3_env()
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])
        try:
            if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                client.create_bucket(Bucket=BUCKET)
            return True
        except (BotoCoreError, ClientError):
            return False

    def _spark_workers_alive(self) -> int:
        try:
            with urllib.request.urlopen(self.spark_status_url, timeout=5) as resp:
                status = json.loads(resp.read())
        except OSError:
            return 0
        return sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")

    # ---- lifecycle ----------------------------------------------------------------------------
    def running(self, name: str) -> bool:
        pid = self.state.get("pids", {}).get(name)
        return bool(pid) and _group_alive(pid)

    def up(self, timeout: float = 300) -> None:
        """Start every service that is not running, in order, each ready before the next starts."""
        for sub in ("logs", "redis", "s3", "spark", "airflow"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._init_postgres()
        for service in self.services():
            if self.running(service.name):
                continue
            if service.name == "api-server":
                self._init_airflow()  # the metadata DB and the pool, before Airflow's servers start
            self._start(service)
            _wait(service.ready, timeout, service.name, self.dir / "logs" / f"{service.name}.log")

    def _start(self, service: Service) -> None:
        with open(self.dir / "logs" / f"{service.name}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(service.command, env=service.env or os.environ, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    user=service.user, cwd=self.dir)
        self.state.setdefault("pids", {})[service.name] = proc.pid
        self._save()

    @property
    def postgres_dir(self) -> Path:
        """The database's files. As root, PostgreSQL runs as the ``postgres`` user, who may not be able to
        enter the state directory (a private temp dir): then they live in a directory of its own."""
        if os.geteuid() != 0:
            return self.dir / "postgres"
        if "postgres_dir" not in self.state:
            self.state["postgres_dir"] = tempfile.mkdtemp(prefix="generec-stack-postgres-")
            shutil.chown(self.state["postgres_dir"], "postgres")
            self._save()
        return Path(self.state["postgres_dir"])

    def _init_postgres(self) -> None:
        """initdb once (trust on loopback: a local stack; production uses a managed DB with its own auth)."""
        data = self.postgres_dir
        if (data / "PG_VERSION").exists():
            return
        data.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([pg_bin("initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
                              capture_output=True, text=True, user=postgres_user(), cwd="/")
        if done.returncode:
            raise SystemExit(f"stack: initdb {data} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def _init_airflow(self) -> None:
        """Create the metadata DB, migrate it, and create the ``gpu`` pool (idempotent)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.ports["postgres"], user="airflow", dbname="postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE airflow")
        finally:
            conn.close()
        env = {**os.environ, **self.airflow_env()}
        for args in (["db", "migrate"], ["pools", "set", "gpu", str(GPU_SLOTS), "GPU generation and embedding"]):
            done = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")

    def down(self) -> list[str]:
        """TERM every process group it started, newest first; KILL what is left after the grace period."""
        stopped, pids = [], self.state.get("pids", {})
        for name in reversed([s.name for s in self.services()]):
            pid = pids.get(name)
            if pid and _group_alive(pid):
                _stop_group(pid)
                stopped.append(name)
        self.state["pids"] = {}
        self._save()
        return stopped

    def kill(self, name: str) -> None:
        """SIGKILL one service's whole process group (fault injection: a worker lost mid-task)."""
        pid = self.state.get("pids", {}).get(name)
        if not pid or not _group_alive(pid):
            raise SystemExit(f"stack: {name!r} is not running")
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_GRACE_S
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)

    def status(self) -> list[dict]:
        rows = [{"service": s.name, "running": self.running(s.name), "pid": self.state.get("pids", {}).get(s.name),
                 "address": s.address, "stands_for": s.role} for s in self.services()]
        return rows


def worker_name() -> str:
    """Airflow's hostname_callable: the stack's workers share a host, so name each (task placement)."""
    name = os.environ.get("GENEREC_WORKER_NAME")
    return f"{name}@{socket.gethostname()}" if name else socket.getfqdn()


def postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as Debian's ``postgres`` user."""
    return "postgres" if os.geteuid() == 0 else None


def _spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise SystemExit("stack: pyspark is not installed (pip install -e '.[deploy]')")
    return Path(spec.origin).parent


def find_pg_bin(name: str) -> str | None:
    """A PostgreSQL server binary, or None (Debian keeps them under /usr/lib/postgresql/<major>/bin)."""
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None)
    return str(found) if found else None


def pg_bin(name: str) -> str:
    """``find_pg_bin``, or exit naming the package to install."""
    found = find_pg_bin(name)
    if not found:
        raise SystemExit(f"stack: PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    """A live (not zombie) process is in the group. ``killpg(pgid, 0)`` also succeeds on zombies, so a
    worker killed a moment ago would still look alive and ``up`` would not start it again."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _stop_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.5)
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pgid, os.WNOHANG)  # reap it when we started it in this process
    except ChildProcessError:
        pass


def _wait(ready: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise SystemExit(f"stack: {what} not ready after {timeout:.0f}s; {log}:\n{tail}")


def register(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser("stack", help="start, stop and inspect the production topology on this machine")
    stack.add_argument("action", choices=("up", "down", "status"))
    stack.add_argument("--dir", type=Path, default=default_dir(), help="state directory (default %(default)s)")
    stack.set_defaults(func=cmd_stack)


def cmd_stack(args: argparse.Namespace) -> int:
    stack = Stack(args.dir)
    if args.action == "down":
        print(json.dumps({"stopped": stack.down()}))
        return 0
    if args.action == "up":
        stack.up()
    for row in stack.status():
        print(f"{row['service']:<15} {'up' if row['running'] else 'DOWN':<5} {row['address']:<28} {row['stands_for']}")
    print(f"Airflow UI: {stack.api_url}  (state: {stack.dir})")
    return 0

