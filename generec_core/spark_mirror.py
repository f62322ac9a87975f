"""Run a Spark stage against an ``s3://`` root when this Spark cannot speak ``s3a://``.

Production Spark images ship hadoop-aws and read ``s3a://`` directly (``spark_path``);
a local Spark here has no S3 jars. For a local master (``storage.spark_io = "auto"``) or on
request (``"mirror"``), the stage instead runs on a private local root: its declared inputs
are copied down, Spark writes there, and what it wrote is copied back up. A folder Spark
committed (it holds a fresh ``_SUCCESS``) replaces the same folder at the real root, as
``mode("overwrite")`` would; any other new file is uploaded as is.

The cost is a download of the stage's inputs (the whole interactions lake for features), so
this is for local and test runs; point a cluster at ``s3a://`` with ``spark_io = "direct"``.

The same list of inputs sizes the JVMs a stage starts (``short_lived_for_stage``): a small day gets short-lived ones.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlparse

from generec_core.config import PipelineConfig
from generec_core.datasets.layout import Layout
from generec_core.storage import LocalStorage, Store, file_uri, join

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# The prefixes (under the root) each Spark stage reads; everything else it needs comes in
# as arguments computed against the real root.
SPARK_INPUTS: dict[str, Callable[[Layout, str], list[str]]] = {
    "ingest": lambda layout, date: [layout.raw_interactions(date), layout.lake_interactions()],
    "features": lambda layout, date: [layout.lake_interactions()],
}


def short_lived_for_stage(stage: str, config: PipelineConfig, date: str) -> bool:
    """Whether ``stage``'s JVMs get the short-lived options: by the bytes it reads at the real root
    (``session.short_lived_jvm``). Asked where each JVM is configured: by the process that starts the session
    (its driver, its executors) and, for a spark-submitted stage, by the submitter (the driver it launches)."""
    from generec_core.spark.session import short_lived_jvm

    layout = Layout.for_config(config)
    input_bytes = sum(o.size for prefix in SPARK_INPUTS[stage](layout, date) for o in layout.store.list(prefix))
    short = short_lived_jvm(config.features.spark_jvm, input_bytes)
    log.info("%s: %s bytes of input: %s Spark JVMs", stage, input_bytes, "short-lived" if short else "throughput")
    return short


def spark_for_stage(stage: str, config: PipelineConfig, date: str) -> "SparkSession":
    """The process's Spark session for ``stage``, its JVMs sized by what the stage reads (``short_lived_for_stage``;
    a JVM already running, as under spark-submit or a test session's, keeps its options)."""
    from generec_core.spark.session import get_spark

    settings = config.features
    return get_spark(settings.spark_master, f"generec-{stage}", settings.shuffle_partitions,
                     short_lived_for_stage(stage, config, date))


def needs_mirror(config: PipelineConfig) -> bool:
    """Mirror when the root is an object store that this Spark cannot reach directly."""
    if urlparse(config.root).scheme == "file":
        return False
    mode = config.storage.spark_io
    return mode == "mirror" or (mode == "auto" and config.features.spark_master.startswith("local"))


def run_spark_stage(stage: str, config: PipelineConfig, date: str,
                    work: Callable[[PipelineConfig], dict]) -> dict:
    """``work(config)`` on the real root, or on a local mirror of the stage's inputs (see module doc)."""
    if not needs_mirror(config):
        return work(config)
    local = Path(tempfile.mkdtemp(prefix=f"generec-{stage}-mirror-"))
    try:
        local_root = file_uri(local)
        store = Store(config.storage)
        inputs = SPARK_INPUTS[stage](Layout(config.root, store), date)
        downloaded = sum(_download(store, config.root, local_root, prefix) for prefix in inputs)
        started = time.time()
        result = work(dataclasses.replace(config, root=local_root))
        uploaded = _upload_outputs(store, local, config.root, started)
        log.info("%s: mirrored %s input objects down and %s outputs up for %s", stage, downloaded, uploaded,
                 config.root)
        return _rebased(result, local_root, config.root)
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _rebased(value: object, local_root: str, root: str) -> object:
    """The stage's summary with URIs under the (deleted) local root pointing at the real root."""
    if isinstance(value, str):
        return root + value[len(local_root):] if value.startswith(local_root + "/") else value
    if isinstance(value, dict):
        return {k: _rebased(v, local_root, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_rebased(v, local_root, root) for v in value)
    return value


def _relative(root: str, uri: str) -> str:
    if not uri.startswith(root + "/"):
        raise ValueError(f"{uri} is not under the root {root}")
    return uri[len(root) + 1:]


def _download(store: Store, root: str, local_root: str, prefix: str) -> int:
    local = LocalStorage()
    objects = store.list(prefix)
    for obj in objects:
        local.write_bytes(join(local_root, _relative(root, obj.uri)), store.read_bytes(obj.uri))
    return len(objects)


def _upload_outputs(store: Store, local: Path, root: str, started: float) -> int:
    """Copy what the stage wrote back to the real root; committed folders replace their remote copy."""
    written = [p for p in local.rglob("*") if p.is_file() and p.stat().st_mtime >= started]
    committed = sorted({p.parent for p in written if p.name == "_SUCCESS"})
    uploads: set[Path] = {p for p in written if not p.name.startswith(".")}
    for folder in committed:
        remote = join(root, folder.relative_to(local).as_posix())
        keep = {p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}
        names = {join(remote, p.relative_to(folder).as_posix()) for p in keep}
        for stale in store.list(remote):
            if stale.uri not in names:
                store.delete(stale.uri)
        uploads |= keep
    # _SUCCESS last in each folder: a reader that waits for it sees a complete folder.
    for path in sorted(uploads, key=lambda p: (p.name == "_SUCCESS", str(p))):
        store.write_bytes(join(root, path.relative_to(local).as_posix()), path.read_bytes())
    return len(uploads)

