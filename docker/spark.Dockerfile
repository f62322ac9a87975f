# Spark master/worker image with hadoop-aws so jobs read and write s3a:// directly, and the
# GeneRec library on the Python path for pandas UDFs.
#   docker build -f docker/spark.Dockerfile -t generec-spark .
FROM apache/spark:4.2.0-scala2.13-java17-python3-ubuntu

USER 0
# The image runs as uid 185 (spark). hadoop-aws must match Spark's bundled Hadoop (3.4.x); the AWS SDK v2 bundle is its dependency.
ARG HADOOP_AWS_VERSION=3.4.1
ARG AWS_SDK_BUNDLE_VERSION=2.24.6
ADD https://repo1.maven.org/maven2/org/apache/hadoop/hadoop-aws/${HADOOP_AWS_VERSION}/hadoop-aws-${HADOOP_AWS_VERSION}.jar /opt/spark/jars/
ADD https://repo1.maven.org/maven2/software/amazon/awssdk/bundle/${AWS_SDK_BUNDLE_VERSION}/bundle-${AWS_SDK_BUNDLE_VERSION}.jar /opt/spark/jars/
RUN chmod 644 /opt/spark/jars/*.jar

WORKDIR /opt/generec
COPY setup.py constraints.txt README.md ./
COPY generec_core ./generec_core
COPY jobs ./jobs
RUN pip install --no-cache-dir -c constraints.txt "pyarrow==26.0.1" "pandas==2.3.3" "numpy==2.4.6" \
 && pip install --no-cache-dir --no-deps .

USER 185
