"""Run one ExpectationSuite on one Spark DataFrame with great-expectations' own machinery.

Why an ephemeral context per validation: the suites depend on the date (interval bounds,
volume band), nothing needs to persist between runs except what we write ourselves (the
verdict and the rendered page under the run's ``work/`` zone), and a file-backed GX project
would be one more piece of state to deploy next to every Spark driver.

Why the Spark datasource: the batch stays where the data is; GX turns each expectation into
Spark aggregations, so a day of a large platform's logs is never collected to one machine.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics leave the pipeline

import great_expectations as gx  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

_SAMPLE = 5  # unexpected values quoted per failed expectation


def _context() -> Any:
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                               analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False))
    return gx.get_context(mode="ephemeral", project_config=config)


def validate(suite: gx.ExpectationSuite, dataframe: Any, run_name: str) -> Any:
    """Validate a Spark (or, for small batches built in-process, pandas) DataFrame against ``suite``
    through a Checkpoint; the GX validation result."""
    import pandas as pd

    context = _context()
    sources = context.data_sources
    in_memory = isinstance(dataframe, pd.DataFrame)
    source = sources.add_pandas(name="generec") if in_memory else sources.add_spark(name="generec")
    asset = source.add_dataframe_asset(name=suite.name)
    batch = asset.add_batch_definition_whole_dataframe(name="whole")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}-validation", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=f"{suite.name}-checkpoint", validation_definitions=[definition], result_format="SUMMARY"))
    outcome = checkpoint.run(batch_parameters={"dataframe": dataframe}, run_id=RunIdentifier(run_name=run_name))
    (result,) = outcome.run_results.values()
    return result


def render_html(result: Any) -> str:
    """The validation result as GX's Data Docs validation page (same renderer and template)."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))


def expectation_name(suite: str, config: Any) -> str:
    """``"<suite>: <type>(<columns>) — <what it guards>"``: how a failure is named everywhere."""
    kwargs = config.kwargs
    columns = kwargs.get("column") or kwargs.get("column_list") or ""
    columns = ",".join(columns) if isinstance(columns, (list, tuple)) else columns
    guards = (config.meta or {}).get("guards", "")
    return f"{suite}: {config.type}({columns})" + (f" — {guards}" if guards else "")


def _observed(result: dict) -> str:
    if "observed_value" in result:
        return str(result["observed_value"])
    if "unexpected_count" in result:
        sample = [str(v) for v in (result.get("partial_unexpected_list") or [])[:_SAMPLE]]
        text = f"{result['unexpected_count']} unexpected of {result.get('element_count')}"
        return text + (f", e.g. {', '.join(sample)}" if sample else "")
    return ""


def summarise(suite: str, result: Any) -> dict:
    """A JSON-able digest of a GX validation result: per expectation name, severity, success, observed."""
    rows = []
    for item in result.results:
        config = item.expectation_config
        raised = bool((item.exception_info or {}).get("raised_exception"))
        rows.append({
            "name": expectation_name(suite, config),
            "severity": str(getattr(config.severity, "value", config.severity)),
            "success": bool(item.success) and not raised,
            "observed": _observed(item.result or {}) if not raised
            else f"error: {(item.exception_info or {}).get('exception_message')}",
        })
    return {"suite": suite, "success": all(r["success"] for r in rows), "evaluated": len(rows), "results": rows}
