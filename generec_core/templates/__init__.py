"""Jinja2 templates for the run report (``*.html.j2`` beside this file) and the one environment that renders them.

Autoescaping is on, so every value a template prints is HTML-escaped; an HTML fragment rendered
elsewhere (a report section) must be passed in as ``markupsafe.Markup`` so it is not escaped twice.
Undefined names raise (``StrictUndefined``) instead of printing nothing.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined


def metric(value: float | None) -> str:
    """A metric in the report's tables: 4 decimals, ``-`` when there is none."""
    return "-" if value is None else f"{value:.4f}"


def fixed(value: float, digits: int) -> str:
    """``value`` with exactly ``digits`` decimals (score 3, clip times 2)."""
    return f"{value:.{digits}f}"


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("generec_core", "templates"),
                      autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["metric"] = metric
    env.filters["fixed"] = fixed
    return env


def render(name: str, **context) -> str:
    """Render the template ``name`` (e.g. ``report.html.j2``) with ``context``; returns the HTML as a plain str."""
    return environment().get_template(name).render(**context)
