"""Data-quality gates: real great-expectations 1.x suites on the lake and on the features.

``suites`` declares what must hold (one ExpectationSuite per batch), ``runner`` runs a suite
on a Spark DataFrame through GX's own objects (ephemeral context, Spark datasource,
ValidationDefinition, Checkpoint) and renders the result with GX's Data Docs renderer,
``gates`` builds the batches for a date, records the verdict for the run report and
``raise_on_failure`` stops the run when a CRITICAL expectation failed. Importing this
package does not import great-expectations or pyspark; the gate functions do.
"""

from generec_core.expectations.verdict import DataQualityError, raise_on_failure

__all__ = ["DataQualityError", "raise_on_failure"]
