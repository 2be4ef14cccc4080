"""A review report of model A against model B: one self-contained file to hand a
reviewer (issue #37), as HTML or PDF.

Both hold, in this order: the verdict, standing apart; the key numbers (the price of
quality, the run-to-run spread, the energy where measured); the ratios chart and table;
the inputs; the cost assumptions with their prices and the dates of those prices; the
run-to-run spread of each side's group; the break-even traffic with its chart; and the
permalink. Charts are rendered here (vl-convert): the HTML embeds them as SVG, the PDF is
drawn by vl-convert from one Vega-Lite page. Nothing is fetched when either is opened.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import altair as alt
import pandas as pd

from mlprod.charts import (
    break_even_chart,
    inputs_chart,
    inputs_frame,
    ratio_chart,
    ratio_frame,
    themed,
    verdict_banner,
)
from mlprod.comparison.break_even import BreakEven
from mlprod.comparison.compare import Comparison, Run, assumptions_table, comparison_table
from mlprod.comparison.noise import spread_table
from mlprod.formatting import format_number

__all__ = ["Review", "review_html", "review_pdf", "write_review"]


@dataclass
class Review:
    """What a review report shows."""

    comparison: Comparison
    extras: Sequence[Run] = ()
    even: BreakEven | None = None
    link: str | None = None
    on: date = field(default_factory=date.today)

    @property
    def runs(self) -> list[Run]:
        return [self.comparison.a, self.comparison.b, *self.extras]

    @property
    def title(self) -> str:
        return f"{self.comparison.a.name} vs {self.comparison.b.name}"

    def key_numbers(self) -> list[str]:
        c = self.comparison
        return [*c.key_numbers, *([c.energy] if c.energy else []), *c.break_evens]

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """The report's tables, each with its heading, numbers as a person reads them."""
        c = self.comparison
        ratios = comparison_table(c)
        for column in ("A", "B", "B - A"):
            ratios[column] = ratios[column].map(lambda v: format_number(v, 4))
        ratios["B vs A (%)"] = ratios["B vs A (%)"].map(
            lambda v: "—" if pd.isna(v) else f"{v:+.1f}%"
        )
        out = [("Ratios and inputs", ratios)]
        if (assumed := assumptions_table(c)) is not None:
            out.append(("Cost assumptions, prices and their dates", assumed))
        spread = spread_table({"A": c.a.noise, "B": c.b.noise})
        if spread is not None:
            for column in ("mean", "min", "max", "mean 90% low", "mean 90% high"):
                spread[column] = spread[column].map(lambda v: format_number(v, 4))
            out.append(("Run-to-run spread (each side's group)", spread))
        return out

    def charts(self) -> list[tuple[str, alt.TopLevelMixin]]:
        c = self.comparison
        out: list[tuple[str, alt.TopLevelMixin]] = [
            (
                "Productivity ratios",
                ratio_chart(
                    ratio_frame(self.runs), title="Ratios, higher is better, best = 100", width=640
                ),
            ),
            ("Inputs", inputs_chart(inputs_frame(self.runs), width=150, height=220)),
        ]
        if self.even is not None:
            names = (c.a.name, c.b.name)
            out.append(
                (
                    "Break-even traffic",
                    break_even_chart(self.even, names, c.a.currency, width=640, height=300),
                )
            )
        return out

    def spread_said(self) -> str | None:
        c = self.comparison
        if c.a.noise is None and c.b.noise is None:
            return (
                "No repeated runs: run-to-run spread is unknown; the verdict decides on the "
                "numbers."
            )
        return None


_CSS = """
body{font-family:'Liberation Sans',Arial,Helvetica,sans-serif;color:#1F2733;max-width:1100px;
margin:32px auto;padding:0 24px;line-height:1.45}
h1{font-size:28px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid
#D8DEE6;padding-bottom:4px}.meta{color:#5A6573;font-size:13px}
.verdict{font-size:20px;font-weight:700;padding:16px 20px;border-radius:8px;margin:18px 0}
.choose{background:#E6F4EA;border-left:6px solid #1E7B3A}.tie{background:#EEF1F5;
border-left:6px solid #5A6573}table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #D8DEE6;padding:4px 8px;text-align:left}th{background:#F3F5F8}
.chart svg{max-width:100%;height:auto}a{color:#1A5FB4}
"""


def _table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.astype(str).itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def review_html(review: Review) -> str:
    """The report as one HTML file: text, tables, and the charts as inline SVG."""
    from mlprod.export import svg_text

    c = review.comparison
    kind = "tie" if c.recommended == "tie" else "choose"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(review.title)} — mlprod review</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(review.title)}</h1>",
        f"<div class='meta'>mlprod review · {review.on.isoformat()}</div>",
        f"<div class='verdict {kind}' id='verdict'>{html.escape(c.verdict)}</div>",
        "<h2>Key numbers</h2><ul>",
        *(f"<li>{html.escape(line)}</li>" for line in review.key_numbers()),
        "</ul>",
    ]
    if said := review.spread_said():
        parts.append(f"<p class='meta'>{html.escape(said)}</p>")
    charts = dict(review.charts())
    parts += ["<h2>Productivity ratios</h2>", "<div class='chart'>",
              svg_text(themed(charts["Productivity ratios"])), "</div>"]  # fmt: skip
    for heading, frame in review.tables():
        parts += [f"<h2>{html.escape(heading)}</h2>", _table_html(frame)]
    parts += ["<h2>Inputs</h2>", "<div class='chart'>", svg_text(themed(charts["Inputs"])),
              "</div>"]  # fmt: skip
    if review.even is not None:
        parts += [
            "<h2>Break-even traffic</h2><ul>",
            *(f"<li>{html.escape(line)}</li>" for line in review.even.lines),
            "</ul><div class='chart'>",
            svg_text(themed(charts["Break-even traffic"])),
            "</div>",
        ]
    if review.link:
        link = html.escape(review.link, quote=True)
        parts.append(f"<h2>Permalink</h2><p><a href='{link}'>{link}</a></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _lines_chart(lines: Sequence[str], *, width: int, size: int = 13) -> alt.Chart:
    """Lines of text, one under another, as a chart of the page."""
    frame = pd.DataFrame({"i": range(len(lines)), "line": list(lines)})
    return (
        alt.Chart(frame)
        .mark_text(align="left", baseline="top", fontSize=size, limit=width)
        .encode(x=alt.value(0), y=alt.Y("i:O", axis=None), text="line:N")
        .properties(width=width, height=alt.Step(size + 7))
    )


def _wrapped(lines: Sequence[str], width: int = 150) -> list[str]:
    import textwrap

    out = []
    for line in lines:
        wrapped = textwrap.wrap(line, width, break_on_hyphens=False) or [""]
        out += [f"• {wrapped[0]}", *(f"   {w}" for w in wrapped[1:])]
    return out


def _table_chart(frame: pd.DataFrame, *, width: int, size: int = 11) -> alt.Chart:
    """A table as a chart of the page: a header row, each column at its own offset (as
    wide as its longest cell), rows one under another."""
    text = frame.astype(str)
    char = size * 0.6
    widths = [max(len(str(c)), *(len(v) for v in text[c])) * char + 14 for c in text.columns]
    offsets = [sum(widths[:j]) for j in range(len(widths))]
    cells = [
        {"row": 0, "x": offsets[j], "text": str(c), "head": True}
        for j, c in enumerate(text.columns)
    ] + [
        {"row": i + 1, "x": offsets[j], "text": v, "head": False}
        for i, row in enumerate(text.itertuples(index=False))
        for j, v in enumerate(row)
    ]
    base = alt.Chart(pd.DataFrame(cells)).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=[0, width], nice=False)),
        y=alt.Y("row:O", axis=None),
        text="text:N",
    )
    head = base.transform_filter("datum.head").mark_text(
        align="left", baseline="top", fontSize=size, fontWeight="bold"
    )
    body = base.transform_filter("!datum.head").mark_text(
        align="left", baseline="top", fontSize=size
    )
    return alt.layer(head, body).properties(width=width, height=alt.Step(size + 8))


def review_pdf(review: Review) -> bytes:
    """The report as a PDF of a few portrait pages, each drawn by vl-convert from a
    Vega-Lite page and joined by pypdf: the decision (verdict, key numbers, ratios); where
    the numbers come from (inputs, cost assumptions, spread); traffic and the permalink."""
    import vl_convert as vlc
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    pages = _pdf_pages(review, width=900)
    for number, sections in enumerate(pages, start=1):
        page = alt.vconcat(*sections, spacing=26).properties(
            title=alt.TitleParams(
                review.title if number == 1 else f"{review.title} · page {number} of {len(pages)}",
                subtitle=f"mlprod review · {review.on.isoformat()}" if number == 1 else [],
                fontSize=24 if number == 1 else 14, anchor="start", offset=14,
            ),
            padding={"left": 28, "right": 28, "top": 24, "bottom": 24},
        )  # fmt: skip
        writer.append(PdfReader(io.BytesIO(vlc.vegalite_to_pdf(themed(page).to_dict()))))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf_pages(review: Review, *, width: int) -> list[list[alt.TopLevelMixin]]:
    """The report's sections grouped into pages a printer takes (each taller than wide,
    none a long strip)."""
    c = review.comparison
    charts = dict(review.charts())
    tables = review.tables()
    decision: list[alt.TopLevelMixin] = [
        verdict_banner(c, width=width),
        _lines_chart(_wrapped(review.key_numbers()), width=width).properties(title="Key numbers"),
        charts["Productivity ratios"],
        *(
            _table_chart(frame, width=width).properties(title=heading)
            for heading, frame in tables[:1]
        ),
    ]
    sources: list[alt.TopLevelMixin] = [
        charts["Inputs"].properties(title="Inputs"),
        *(
            _table_chart(frame, width=width).properties(title=heading)
            for heading, frame in tables[1:]
        ),
    ]
    traffic: list[alt.TopLevelMixin] = []
    if review.even is not None:
        traffic.append(_lines_chart(_wrapped(review.even.lines), width=width)
                       .properties(title="Break-even traffic"))  # fmt: skip
        traffic.append(charts["Break-even traffic"])
    if review.link:
        link = _lines_chart([review.link], width=width).properties(title="Permalink")
        (traffic if traffic else sources).append(link)
    return [page for page in (decision, sources, traffic) if page]


def write_review(review: Review, path: str | Path) -> Path:
    """The report to ``path``: PDF for ``.pdf``, HTML otherwise."""
    path = Path(path)
    if path.suffix.lower() == ".pdf":
        path.write_bytes(review_pdf(review))
    else:
        path.write_text(review_html(review), encoding="utf-8")
    return path
