# Airflow image (API server, scheduler, DAG processor, CPU Celery worker) with GeneRec installed
# from the pinned constraints. Build from the repository root:
#   docker build -f docker/airflow.Dockerfile -t generec-airflow .
FROM python:3.11-slim-bookworm

# Java runs Spark in local mode inside CPU workers (a cluster gets jobs via spark-submit).
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/generec/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPARK_LOCAL_IP=127.0.0.1

WORKDIR /opt/generec
COPY setup.py constraints.txt README.md ./
COPY generec_core ./generec_core
COPY jobs ./jobs
COPY dags ./dags
RUN pip install --no-cache-dir -c constraints.txt ".[deploy]"

RUN useradd --create-home --uid 50000 airflow && mkdir -p /opt/airflow && chown 50000 /opt/airflow
USER 50000
CMD ["airflow", "standalone"]
