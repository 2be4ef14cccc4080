"""The review report (issue #37): ``mlprod report A B -o review.html|pdf`` from a real
history, one self-contained file; its PDF pages rendered to images and looked at; the
card's verdict on a band of its own."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from mlprod.charts import A_COLOR, B_COLOR, comparison_card
from mlprod.comparison.compare import compare
from mlprod.config import PROJECT_DIR
from mlprod.saving import calculation_record, save_calculation
from mlprod.store import HistoryFilter, Store
from tests.conftest import api_70b_vs_ft_7b_on_two_l4s


@pytest.fixture
def pair(db_path):
    """The reviewer's pair saved in a history: their ids."""
    a, b = api_70b_vs_ft_7b_on_two_l4s()
    with Store(db_path) as store:
        for run, key in ((a, "a"), (b, "b")):
            record = calculation_record(run, assumptions=run.assumptions, model_name=run.name)
            save_calculation(store, record, calc_key=f"review-{key}")
        ids = store.history_page(HistoryFilter())["id"].tolist()[::-1]
    return ids, compare(a, b)


def report(db_path, ids, out, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlprod", "report", str(ids[0]), str(ids[1]), "-o", str(out),
         "--db", str(db_path), "--dashboard-url", "https://mlprod.test", *extra],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_html_review_holds_everything_and_fetches_nothing(db_path, pair, tmp_path):
    ids, comparison = pair
    out = tmp_path / "review.html"
    done = report(db_path, ids, out)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert re.search(r"<div class='verdict choose' id='verdict'>Choose A, 70B via API", page)
    assert page.count("<svg") == 3  # the ratios, the inputs, total cost against traffic
    for section in ("Key numbers", "Ratios and inputs", "Cost assumptions, prices and their "
                    "dates", "Break-even traffic", "Permalink"):  # fmt: skip
        assert f">{section}<" in page
    assert "Price as of" in page and "2026-10-01" in page  # the prices' date
    # numbers as a person reads them: tokens and requests grouped in thousands
    for row in (r"Requests per month</td><td>2,000,000</td><td>2,000,000",
                r"Input tokens per month</td><td>600,000,000</td>",
                r"Total cost \(USD\)</td><td>704</td><td>1,123</td><td>418\.5"):  # fmt: skip
        assert re.search(row, page), row
    assert f"https://mlprod.test/compare?a={ids[0]}&amp;b={ids[1]}" in page
    assert comparison.break_evens[0] in page.replace("&#x27;", "'")
    # self-contained: no script, stylesheet, image or font fetched from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b|url\((?!#)|@import", page)
    assert re.findall(r"(?:src|href)=['\"]?(\w+:)", page) == ["https:"]  # the permalink


def test_the_pdf_review_renders_every_chart(db_path, pair, tmp_path):
    import pypdfium2 as pdfium

    ids, _ = pair
    out = tmp_path / "review.pdf"
    done = report(db_path, ids, out)
    assert done.returncode == 0, done.stderr
    pdf = pdfium.PdfDocument(str(out))
    try:
        texts = [" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf))]
        sizes = [pdf[i].get_size() for i in range(len(pdf))]
        images = [
            np.asarray(pdf[i].render(scale=1).to_pil().convert("RGB")) for i in range(len(pdf))
        ]
    finally:
        pdf.close()
    # pages a printer takes, none a long strip; the decision first
    assert len(texts) == 3 and all(height <= 1.5 * width for width, height in sizes)
    assert "Choose A, 70B via API" in texts[0] and "Ratios and inputs" in texts[0]
    assert "page 2 of 3" in texts[1] and "Permalink" in texts[2]
    flat = " ".join(texts)
    sections = ("Key numbers", "Break-even traffic", "Cost assumptions, prices and their dates")
    for words in ("Choose A, 70B via API", *sections, "Price as of", "Permalink"):
        assert words in flat

    def pixels(color: str) -> int:
        rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])
        return sum(int((np.abs(page.astype(int) - rgb).sum(axis=2) < 40).sum()) for page in images)

    # The bars and the lines drawn in A's and B's colours: the ratio and input charts'
    # bars alone cover far more than this; a page without its charts has none.
    assert pixels(A_COLOR) > 20_000 and pixels(B_COLOR) > 20_000
    # and the break-even chart's two cost lines cross where the report says
    assert "3.189M requests/month" in flat


def test_the_cards_verdict_stands_on_a_band_of_its_own():
    a, b = api_70b_vs_ft_7b_on_two_l4s()
    comparison = compare(a, b)
    spec = comparison_card(comparison).to_dict()
    title = spec["title"]
    assert comparison.verdict[:40] not in str(title)  # not one of the detail lines
    banner = spec["vconcat"][0]
    marks = [layer["mark"]["type"] for layer in banner["layer"]]
    assert marks == ["rect", "rect", "text"]
    rows = spec["datasets"][banner["layer"][2]["data"]["name"]]
    words = " ".join(row["line"] for row in rows)
    assert words == " ".join(comparison.verdict.split())
    assert banner["layer"][2]["mark"]["fontWeight"] == "bold"
    # every line inside its band, the block as far from the top as from the bottom
    size, height = banner["layer"][2]["mark"]["fontSize"], banner["height"]
    tops = [row["top"] for row in rows]
    assert len(tops) >= 2 and abs(tops[0] - (height - tops[-1] - size)) <= 8


def test_a_report_to_a_folder_that_is_not_there_is_refused(db_path, pair, tmp_path):
    ids, _ = pair
    done = report(db_path, ids, tmp_path / "no" / "such" / "review.pdf")
    assert done.returncode == 2 and "No folder" in done.stderr
