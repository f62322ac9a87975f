# GPU worker: a Celery worker that only consumes the `gpu` queue (frames, personalise,
# generate and gate: the tasks that load models). CUDA runtime base + the CUDA build of the pinned torch.
#   docker build -f docker/gpu-worker.Dockerfile -t generec-gpu-worker .
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/generec/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/generec
COPY setup.py constraints.txt README.md ./
COPY generec_core ./generec_core
COPY jobs ./jobs
COPY dags ./dags
# PyPI's torch==2.13.0 for Linux x86_64 is the CUDA build; the constraints pin every other package.
RUN python3.11 -m venv /opt/venv \
 && pip install --no-cache-dir -c constraints.txt ".[deploy]"

RUN useradd --create-home --uid 50000 airflow && mkdir -p /opt/airflow && chown 50000 /opt/airflow
USER 50000
CMD ["airflow", "celery", "worker", "--queues", "gpu", "--concurrency", "1"]
