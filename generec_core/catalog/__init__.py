"""The published catalog, read side: the live pointer, the per-date manifests, and maintenance.

``stages/publish.py`` is the only writer. Modules here only read, except ``gc`` which deletes
assets no manifest references (dry-run unless asked). One module per reader:
``manifests`` (find and read), ``show`` (one user's rows), ``diff`` (two runs), ``gc``.
"""

from generec_core.catalog.manifests import (CatalogError, ManifestRef, find_manifest, list_manifests,
                                            read_current, read_rows)

__all__ = ["CatalogError", "ManifestRef", "find_manifest", "list_manifests", "read_current", "read_rows"]
