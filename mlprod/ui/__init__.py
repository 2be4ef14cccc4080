"""Streamlit glue: the only mlprod package that imports streamlit.

What every page shares is importable from here (``from mlprod import ui``); widgets that
one page shows live in a module named for them (``ui.cost_inputs`` for the calculator,
``ui.run_picker`` for Compare, ``ui.history_table`` for History, ``ui.uploads`` for
Batch scoring).
"""

from mlprod.ui.resources import (
    deleted_runs,
    deletion_log,
    energy_per_model,
    filter_options,
    follow_writes,
    history_currencies,
    history_metrics,
    history_overview,
    history_rows,
    history_summary,
    search_runs,
    spread_per_group,
    store,
    warm_png_export,
    within_limits,
    writing,
    written,
)
from mlprod.ui.shell import (
    access_rules,
    author,
    check_cost_tables,
    ensure_app_shell,
    favicon,
    needs_sign_in,
    person,
    require_sign_in,
    sidebar,
    sign_in_on,
)
from mlprod.ui.widgets import chart, page_url, scored_column_config, shown_empty

__all__ = [
    "access_rules",
    "author",
    "chart",
    "check_cost_tables",
    "deleted_runs",
    "deletion_log",
    "energy_per_model",
    "ensure_app_shell",
    "favicon",
    "filter_options",
    "follow_writes",
    "history_currencies",
    "history_metrics",
    "history_overview",
    "history_rows",
    "history_summary",
    "needs_sign_in",
    "page_url",
    "person",
    "require_sign_in",
    "scored_column_config",
    "search_runs",
    "shown_empty",
    "sidebar",
    "sign_in_on",
    "spread_per_group",
    "store",
    "warm_png_export",
    "within_limits",
    "writing",
    "written",
]
