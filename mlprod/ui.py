"""Streamlit glue: the shared database handle and widgets used by several pages.

The only mlprod module that imports streamlit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from mlprod import config
from mlprod.charts import themed
from mlprod.compare import Run, run_from_row
from mlprod.costs import (
    CostTableError,
    InferenceCost,
    TrainingCost,
    default_fx,
    default_prices,
    inference_from_requests,
    inference_from_tokens,
    training_cost,
)
from mlprod.errors import DatabaseError
from mlprod.explain import format_money, format_ratio, md, readable
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.metrics import Ratios
from mlprod.store import HistoryFilter, Store

__all__ = ["author", "ratio_cards", "sidebar", "store"]

AUTHOR_KEY = "sidebar-author"


@st.cache_resource(show_spinner="Opening the history database…")
def _open_store(database: str) -> Store:
    # One connection per server process; Store hands every operation its own cursor.
    return Store(database)


def ensure_app_shell() -> None:
    """Send a page that Streamlit ran on its own back through ``app.py``.

    With a ``pages/`` folder beside ``app.py``, the very first run of a fresh server takes
    Streamlit's legacy multipage path: a deep link (``/batch``) then runs the page file
    alone, without our navigation and sidebar, and the server stays in that mode. Clearing
    the legacy flag and rerunning hands the run to ``st.navigation`` for good.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def store() -> Store:
    """The process-wide history store; stops the page with a clear message if it can't open."""
    try:
        opened = _open_store(config.database())
    except DatabaseError as exc:
        st.error(md(exc), icon=":material/database:")
        st.stop()
        raise  # st.stop raises; this line keeps type checkers calm
    if opened.read_only:
        st.warning(
            f"The history database `{opened.database}` is read-only: you can look, but "
            "saving and deleting are off.",
            icon=":material/lock:",
        )
    return opened


@contextmanager
def writing() -> Iterator[Store]:
    """The store, for one write; a write the database refuses (read-only, locked, a
    concurrent change) is shown as a message and stops the page, never a traceback."""
    try:
        yield _open_store(config.database())
    except DatabaseError as exc:
        st.error(f"Nothing was saved. {md(exc)}", icon=":material/database:")
        st.stop()


def sign_in_provider() -> tuple[bool, str | None]:
    """Whether sign-in is on (an ``[auth]`` section in ``.streamlit/secrets.toml``), and
    the provider to use: the one named sub-section, if there is exactly one."""
    try:
        section = st.secrets.get("auth")
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False, None
    if not section:
        return False, None
    named = [key for key, value in section.items() if isinstance(value, Mapping)]
    return True, named[0] if len(named) == 1 else None


def require_sign_in() -> None:
    """With sign-in on, nobody gets past this without signing in (OIDC via st.login)."""
    required, provider = sign_in_provider()
    if not required or st.user.is_logged_in:
        return
    st.title("mlprod")
    st.write("This dashboard is shared by the team. Sign in to see and save calculations.")
    st.button(
        "Sign in", type="primary", icon=":material/login:", key="sign-in",
        on_click=st.login, args=(provider,) if provider else (),
    )  # fmt: skip
    st.stop()


def author() -> str | None:
    """Who saves: the signed-in user's email when sign-in is on, else the sidebar name."""
    if sign_in_provider()[0] and st.user.is_logged_in:
        return str(st.user.get("email") or st.user.get("name") or "") or None
    name = str(st.session_state.get(AUTHOR_KEY) or "").strip()
    return name or None


def check_cost_tables() -> None:
    """Read the GPU price and exchange-rate tables at start: a bad row is named on every
    page (costs can still be typed in; the builders need the tables)."""
    try:
        default_prices()
        default_fx()
    except CostTableError as exc:
        st.error(f"The cost tables cannot be used: {md(exc)}", icon=":material/table:")


def sidebar() -> None:
    """Who is working, and which database they are working on."""
    with st.sidebar:
        if sign_in_provider()[0]:
            st.caption(f"Signed in as **{md(author() or 'unknown')}**; saves carry this name.")
            st.button("Sign out", key="sign-out", icon=":material/logout:", on_click=st.logout)
        else:
            st.text_input(
                "Your name",
                key=AUTHOR_KEY,
                placeholder="e.g. Ada",
                help="Stored with every calculation you save, so the team knows who ran what.",
            )
        st.caption(f"History database: `{config.database()}`")


def ratio_cards(ratios: Ratios, currency: str, formulas: dict[str, str]) -> None:
    """Three metrics, each with its raw value, a readable form and its formula."""
    words = readable(ratios, currency)
    meaning = {"cer": "Cost efficiency", "ter": "Time efficiency", "psr": "Performance over speed"}
    for column, name in zip(st.columns(3), ("cer", "ter", "psr"), strict=True):
        with column:
            st.metric(
                name.upper(),
                format_ratio(getattr(ratios, name), 3),
                help=formulas[name],
                border=True,
            )
            st.caption(f"**{meaning[name]}**: {words[name]}")


def spill_upload(uploaded: UploadedFile) -> Path:
    """Write an upload to a temp file once per upload (pyarrow and DuckDB read paths)."""
    key = f"_upload-{uploaded.file_id}"
    path = st.session_state.get(key)
    if path is None or not Path(path).exists():
        suffix = "".join(Path(uploaded.name).suffixes[-2:]) or ".csv"
        folder = Path(tempfile.mkdtemp(prefix="mlprod-upload-"))
        path = folder / f"upload{suffix}"
        path.write_bytes(uploaded.getbuffer())
        st.session_state[key] = path
    return Path(path)


def max_upload_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024


def scored_column_config() -> dict[str, object]:
    """How a scored table reads: currency, significant digits, dates."""
    ratio = st.column_config.NumberColumn
    return {
        "line": st.column_config.NumberColumn("Line", format="%d"),
        "status": st.column_config.TextColumn("Status"),
        "error": st.column_config.TextColumn("Error", width="large"),
        "f1": ratio("F1", format="%.4f"),
        "training_cost": ratio(f"Training cost ({config.currency()})", format="%.2f"),
        "inference_cost": ratio(f"Inference cost ({config.currency()})", format="%.2f"),
        "training_hours": ratio("Training h", format="%.2f"),
        "latency_ms": ratio("Latency ms", format="%.1f"),
        "cer": ratio("CER", format="%.4g", help="F1 per currency unit"),
        "ter": ratio("TER", format="%.4g", help="F1 per training hour"),
        "psr": ratio("PSR", format="%.4g", help="F1 per ms of latency"),
        "created_at": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm"),
        "run_id": st.column_config.TextColumn("Run id"),
        "run_name": st.column_config.TextColumn("Run name"),
        "model_name": st.column_config.TextColumn("Model"),
        "project": st.column_config.TextColumn("Project"),
        "tags": st.column_config.TextColumn("Tags"),
        "notes": st.column_config.TextColumn("Notes"),
    }


SOURCES = ("History", "By hand", "Last scored batch")
HAND_FIELDS = (
    ("f1", "F1 score", 0.01),
    ("training_cost", "Training cost", 100.0),
    ("inference_cost", "Inference cost", 10.0),
    ("training_hours", "Training time (hours)", 0.5),
    ("latency_ms", "Latency (ms)", 1.0),
)


def side_defaults(prefix: str, side: int | Run) -> dict[str, object]:
    """Widget values that show ``side`` (a history id or a hand-entered run)."""
    if isinstance(side, int):
        return {f"{prefix}-source": "History", f"{prefix}-pick": side}
    values: dict[str, object] = {f"{prefix}-source": "By hand", f"{prefix}-name": side.name}
    for name, _, _ in HAND_FIELDS:
        values[f"{prefix}-{name}"] = float(getattr(side, name))
    return values


def run_picker(prefix: str, title: str, store: Store, batch: pd.DataFrame | None) -> int | Run:
    """Pick one run from the history, by hand or from the last scored batch.

    Returns the history id or the hand-entered / batch run (a batch row is not in the
    history, so it travels by value).
    """
    st.markdown(f"**{title}**")
    sources = SOURCES if batch is not None and not batch.empty else SOURCES[:2]
    if st.session_state.get(f"{prefix}-source") not in sources:
        st.session_state[f"{prefix}-source"] = sources[0]
    source = st.radio("From", sources, key=f"{prefix}-source", horizontal=True)
    if source == "History":
        text = st.text_input(
            "Search", key=f"{prefix}-search", placeholder="model, run id, project or tag"
        )
        found = store.search(text, limit=200)
        chosen = st.session_state.get(f"{prefix}-pick")
        if chosen is not None and chosen not in set(found["id"]):
            found = pd.concat([store.calculations_by_id([int(chosen)]), found])
        if found.empty:
            st.info("No saved run matches; try another search or enter one by hand.")
            st.stop()
        labels = {int(r.id): _run_label(r) for r in found.itertuples()}
        pick = st.selectbox(
            "Run (newest first)", list(labels), format_func=labels.get, key=f"{prefix}-pick"
        )
        return int(pick)
    if source == "Last scored batch" and batch is not None:
        labels = {i: _run_label(r) for i, r in enumerate(batch.itertuples())}
        index = st.selectbox(
            "Run from the batch", list(labels), format_func=labels.get, key=f"{prefix}-batch"
        )
        return run_from_row(batch.iloc[int(index)])
    name = st.text_input("Model name", key=f"{prefix}-name") or "model"
    values = {}
    left, right = st.columns(2)
    for i, (field_name, label, step) in enumerate(HAND_FIELDS):
        values[field_name] = (left if i % 2 == 0 else right).number_input(
            label, step=step, key=f"{prefix}-{field_name}"
        )
    return Run(name=name, **values)


def _run_label(row: object) -> str:
    model = getattr(row, "model_name", None) or getattr(row, "run_name", None) or "run"
    run = getattr(row, "run_id", None) or getattr(row, "run_name", None)
    created = getattr(row, "created_at", None)
    when = f" · {created:%Y-%m-%d}" if isinstance(created, pd.Timestamp) else ""
    ident = f" · {run}" if run and run != model and isinstance(run, str) else ""
    return f"{model}{ident} · F1 {float(getattr(row, 'f1', 0)):.3f}{when}"


def chart(figure: alt.TopLevelMixin, key: str) -> None:
    """An Altair chart in the house style; Streamlit's own toolbar (save as PNG/SVG) stays."""
    st.altair_chart(themed(figure), theme=None, key=key)


def page_url(params: dict[str, str]) -> str:
    """An absolute link to this page with ``params`` (relative when the URL is unknown)."""
    base = (getattr(st.context, "url", None) or "").split("?")[0]
    return f"{base}?{urlencode(params)}"


# -- cached history queries ------------------------------------------------------------------


@st.cache_data(ttl=900, max_entries=512, show_spinner=False)
def _history_query(database: str, query: str, key: tuple, _f: HistoryFilter, kwargs: tuple) -> Any:
    return getattr(store(), query)(_f, **dict(kwargs))


def history(query: str, f: HistoryFilter, **kwargs: Any) -> Any:
    """A :class:`Store` history query, cached per filter until anything is written."""
    return _history_query(config.database(), query, astuple(f), f, tuple(sorted(kwargs.items())))


@st.cache_data(ttl=900, show_spinner=False)
def _currencies(database: str) -> list[str]:
    return store().currencies()


def history_currencies() -> list[str]:
    return _currencies(config.database())


@st.cache_data(ttl=900, show_spinner=False)
def _filter_options(database: str) -> dict[str, list[str]]:
    return store().filter_options()


def filter_options() -> dict[str, list[str]]:
    return _filter_options(config.database())


def written() -> None:
    """Call after every write: cached query results must not hide it from anyone."""
    st.cache_data.clear()


HISTORY_TABLE_COLUMNS = [
    "answer", "created_at", "model_name", "run_name", "run_id", "project", "tags", "f1",
    "total_cost", "training_hours", "latency_ms", "cer", "ter", "psr", "currency", "author",
    "source", "gpu_model", "gpu_count", "price_per_gpu_hour", "price_kind", "price_provider",
    "price_as_of", "inference_mode", "requests_per_month", "cost_per_1k_requests", "months",
    "notes",
]  # fmt: skip


def history_column_config() -> dict[str, object]:
    number = st.column_config.NumberColumn
    return {
        **scored_column_config(),
        "answer": st.column_config.TextColumn("★", help="answers a question above", width=30),
        "total_cost": number("Total cost", format="%.2f"),
        "author": st.column_config.TextColumn("Saved by"),
        "source": st.column_config.TextColumn("Source"),
        "deleted_at": st.column_config.DatetimeColumn("Deleted", format="YYYY-MM-DD HH:mm"),
        "deleted_by": st.column_config.TextColumn("Deleted by"),
        "currency": st.column_config.TextColumn("Currency"),
        "gpu_model": st.column_config.TextColumn("GPU"),
        "gpu_count": number("GPUs", format="%g"),
        "price_per_gpu_hour": number("Price / GPU-h", format="%.3g"),
        "price_kind": st.column_config.TextColumn("Price"),
        "price_provider": st.column_config.TextColumn("Provider"),
        "price_as_of": st.column_config.DateColumn("Price as of"),
        "inference_mode": st.column_config.TextColumn("Inference from"),
        "requests_per_month": number("Requests / month", format="%.3g"),
        "cost_per_1k_requests": number("Cost / 1k requests", format="%.3g"),
        "months": number("Months", format="%g"),
    }


def run_answer(row: dict[str, Any], currency: str | None = "USD") -> str:
    """One line naming a run that answers a question, with its numbers."""
    name = row.get("run_name") or row.get("run_id")
    if not name:  # a calculator save has neither: name it by its date, not our id
        created = row.get("created_at")
        name = (
            f"run of {pd.Timestamp(created):%Y-%m-%d %H:%M} UTC"
            if created is not None and pd.notna(created)
            else f"#{row['id']}"
        )
    total = float(row["training_cost"]) + float(row["inference_cost"])
    return (
        f"★ **{md(row.get('model_name') or 'run')}** · {md(name)} — "
        f"F1 {float(row['f1']):.4g}, "
        f"{format_money(total, currency or 'USD')}{'' if currency else ' (as stored)'}, "
        f"{format_ratio(float(row['latency_ms']), 4)} ms"
    )


def load_sample_runs() -> int:
    """Store ``data/sample_runs.csv`` as one batch; returns the batch number."""
    path = config.PROJECT_DIR / "data" / "sample_runs.csv"
    inspection = inspect(path)
    with writing() as target:
        batch_no = target.append_calculations(
            scored_batches(inspection, resolve_mapping(inspection)),
            source="sample",
            author=author(),
            file_name=path.name,
            content_hash=inspection.content_hash,
        )
    written()
    return batch_no


# -- cost builders (issue #6) ------------------------------------------------------------------

TRAIN_MODES = ("Enter it", "From GPU hours")
INFER_MODES = ("Enter it", "From requests", "From tokens")
CHEAPEST = "Cheapest"
Built = TrainingCost | InferenceCost | None


def training_cost_inputs(mode: str, currency: str) -> Callable[[float], tuple[float, Built]]:
    """The training-cost inputs for ``mode``; returns how to turn them into a cost once the
    form is submitted (given the training hours, the default GPU hours)."""
    if mode == TRAIN_MODES[0]:
        typed = st.number_input(
            "Training cost", value=1000.0, step=100.0, format="%.2f", key="calc-training-cost",
            help=f"In {currency}. Compute, storage and people for the training run.",
        )  # fmt: skip
        return lambda hours: (typed, None)
    prices = default_prices()
    left, right = st.columns(2)
    gpu = left.selectbox("GPU model", prices.models(), key="calc-gpu")
    count = right.number_input("GPUs", value=8.0, min_value=0.0, step=1.0, key="calc-gpus")
    left, right = st.columns(2)
    gpu_hours = left.number_input(
        "GPU hours", value=None, min_value=0.0, step=1.0, key="calc-gpu-hours",
        placeholder="auto", help="Hours on those GPUs; empty: the training time.",
    )  # fmt: skip
    kind = right.radio("Price", ("On-demand", "Spot"), key="calc-price-kind", horizontal=True)
    provider = st.selectbox("Provider", [CHEAPEST, *prices.providers()], key="calc-provider")
    override = st.number_input(
        f"Your price per GPU-hour ({currency})", value=None, min_value=0.0, step=0.1,
        key="calc-price-override", placeholder="table",
    )  # fmt: skip
    extra = st.number_input(
        f"Extra training costs ({currency})", value=0.0, min_value=0.0, step=50.0,
        key="calc-extra-costs", help="Storage, data labelling, people, …",
    )  # fmt: skip

    def build(hours: float) -> tuple[float, Built]:
        built = training_cost(
            gpu, count, gpu_hours or hours, spot=kind == "Spot",
            provider=None if provider == CHEAPEST else provider, price_override=override,
            extra_costs=extra, currency=currency,
        )  # fmt: skip
        return built.total, built

    return build


def inference_cost_inputs(mode: str, currency: str) -> Callable[[], tuple[float, Built]]:
    """The inference-cost inputs for ``mode``; returns how to turn them into a cost."""
    if mode == INFER_MODES[0]:
        typed = st.number_input(
            "Inference cost", value=200.0, step=10.0, format="%.2f", key="calc-inference-cost",
            help=f"In {currency}. Serving cost over the period you compare.",
        )  # fmt: skip
        return lambda: (typed, None)
    months = st.number_input("Months of serving", value=1.0, min_value=0.0, step=1.0,
                             key="calc-months")  # fmt: skip
    if mode == INFER_MODES[1]:
        requests = st.number_input(
            "Requests per month", value=2_000_000.0, min_value=0.0, step=100_000.0,
            format="%.0f", key="calc-requests",
        )  # fmt: skip
        per_1k = st.number_input(
            f"Cost per 1,000 requests ({currency})", value=0.1, min_value=0.0, step=0.01,
            format="%.4f", key="calc-cost-per-1k",
        )  # fmt: skip

        def from_requests() -> tuple[float, Built]:
            built = inference_from_requests(requests, per_1k, months, currency=currency)
            return built.total, built

        return from_requests
    tokens_in = st.number_input(
        "Input tokens per month", value=50_000_000.0, min_value=0.0, step=1_000_000.0,
        format="%.0f", key="calc-tokens-in",
    )  # fmt: skip
    tokens_out = st.number_input(
        "Output tokens per month", value=10_000_000.0, min_value=0.0, step=1_000_000.0,
        format="%.0f", key="calc-tokens-out",
    )  # fmt: skip
    left, right = st.columns(2)
    price_in = left.number_input(f"Price per 1M input tokens ({currency})", value=0.5,
                                 min_value=0.0, step=0.1, key="calc-price-in")  # fmt: skip
    price_out = right.number_input(f"Price per 1M output tokens ({currency})", value=1.5,
                                   min_value=0.0, step=0.1, key="calc-price-out")  # fmt: skip

    def from_tokens() -> tuple[float, Built]:
        built = inference_from_tokens(
            tokens_in, tokens_out, price_in, price_out, months, currency=currency
        )
        return built.total, built

    return from_tokens
