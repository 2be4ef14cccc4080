"""A comparison as a link: ``?a=3&b=light~0.97~400~100~6~20&w=2,1,1&tie=2&x=5,7``.

Each side is a history id, ``group:NAME`` or a hand-entered run (its quality metric last
when it is not F1: ``asr~0.88~400~100~6~20~wer``); every part of a link is read on its own
(:func:`read_link`), so one bad part falls back to its default and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlprod.comparison.compare import Run
from mlprod.errors import BadLink, InvalidInput
from mlprod.formatting import format_ratio
from mlprod.quality import F1, metric_named

__all__ = [
    "MAX_EXTRA_RUNS",
    "MAX_WEIGHT",
    "GroupSide",
    "Link",
    "parse_extra",
    "parse_side",
    "parse_tie_band",
    "parse_weights",
    "read_link",
    "side_param",
    "weights_param",
]


@dataclass(frozen=True)
class GroupSide:
    """A side that is a group of runs (other seeds of one model), compared by its mean."""

    group: str


GROUP_PREFIX = "group:"
_WEIGHTS = ("cer", "ter", "psr")


def side_param(side: int | Run | GroupSide) -> str:
    """A side of the comparison as a URL parameter: a history id, or a hand-entered run.

    >>> side_param(42), side_param(Run(0.97, 400, 100, 6, 20, name="light"))
    ('42', 'light~0.97~400~100~6~20')

    A run scored on another metric than F1 names it last (its quality as scored: 1 − WER):

    >>> side_param(Run(0.88, 400, 100, 6, 20, name="asr", metric=metric_named("wer")))
    'asr~0.88~400~100~6~20~wer'
    """
    if isinstance(side, int):
        return str(side)
    if isinstance(side, GroupSide):
        return GROUP_PREFIX + side.group
    values = [format_ratio(x, 12) for x in side.values()]
    metric = [] if side.metric.is_f1 else [side.metric.key]
    return "~".join([side.name.replace("~", "-"), *values, *metric])


def parse_side(text: str) -> int | Run | GroupSide:
    """The inverse of :func:`side_param`.

    Raises
    ------
    BadLink
        When the text is neither an id nor ``name~f1~training~inference~hours~latency``.

    >>> parse_side("42"), parse_side("light~0.97~400~100~6~20").latency_ms
    (42, 20.0)
    """
    text = text.strip()
    if len(text) > 500:
        raise BadLink("The run in the link is too long to be one.")
    if text.startswith(GROUP_PREFIX) and text[len(GROUP_PREFIX) :].strip():
        return GroupSide(text[len(GROUP_PREFIX) :].strip())
    if text.isdigit():
        if len(text) > 18:  # beyond any id the history hands out (a 64-bit integer)
            raise BadLink(f"There is no run {shorten_link(text)} in the history.")
        return int(text)
    parts = text.split("~")
    if len(parts) not in (6, 7):
        raise BadLink(f"Cannot read the run '{text}' from the link.")
    try:
        numbers = [float(p) for p in parts[1:6]]
        metric = metric_named(parts[6]) if len(parts) == 7 else F1
    except (ValueError, InvalidInput):
        raise BadLink(f"Cannot read the run '{text}' from the link.") from None
    if not 0 <= numbers[0] <= 1:
        raise BadLink(
            f"The run '{text}' in the link has a quality of {parts[1]}: it is between 0 and 1."
        )
    return Run(*numbers, name=parts[0] or "run", metric=metric)


def compare_link(
    dashboard: str,
    a: int | Run | GroupSide | str,
    b: int | Run | GroupSide | str,
    weights: dict[str, float],
    tie_band: float,
) -> str:
    """The Compare page's address for this comparison on the dashboard at ``dashboard``.

    >>> compare_link("https://mlprod.test/", 1, 2, {"cer": 1, "ter": 1, "psr": 2}, 0.02)
    'https://mlprod.test/compare?a=1&b=2&w=1%2C1%2C2&tie=2'
    """
    from urllib.parse import urlencode

    query = {
        "a": a if isinstance(a, str) else side_param(a),
        "b": b if isinstance(b, str) else side_param(b),
        "w": weights_param(weights),
        "tie": f"{tie_band * 100:g}",
    }
    return f"{dashboard.rstrip('/')}/compare?{urlencode(query)}"


def weights_param(weights: dict[str, float]) -> str:
    """``cost,time,speed`` weights as a URL parameter."""
    return ",".join(f"{weights.get(k, 1):g}" for k in ("cer", "ter", "psr"))


def parse_weights(text: str) -> dict[str, float]:
    """The inverse of :func:`weights_param`; raises :class:`BadLink` on anything else.

    >>> parse_weights("2,1,0.5")
    {'cer': 2.0, 'ter': 1.0, 'psr': 0.5}
    """
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(not 0 <= p <= MAX_WEIGHT for p in parts):
        raise BadLink(
            f"Cannot read the weights '{shorten_link(text)}' from the link (three numbers "
            f"from 0 to {MAX_WEIGHT:g}, e.g. 2,1,1)."
        )
    return dict(zip(("cer", "ter", "psr"), parts, strict=True))


#: The compare page's slider ranges: a link cannot ask for more.
MAX_WEIGHT = 5.0
MAX_EXTRA_RUNS = 4


def shorten_link(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_extra(text: str) -> list[int]:
    """The extra runs of a link (``x=3,7``): up to :data:`MAX_EXTRA_RUNS` history ids.

    >>> parse_extra("3, 7"), parse_extra("")
    ([3, 7], [])
    """
    extra = [x.strip() for x in text.split(",") if x.strip()]
    if not all(x.isdigit() and len(x) <= 18 for x in extra):
        raise BadLink(f"Cannot read the extra runs '{shorten_link(text)}' from the link.")
    if len(extra) > MAX_EXTRA_RUNS:
        raise BadLink(
            f"The link asks for {len(extra):,} more runs; the charts take up to {MAX_EXTRA_RUNS}."
        )
    return [int(x) for x in extra]


@dataclass
class Link:
    """What a comparison link asks for, each part checked on its own: a bad part falls
    back to its default and says why in ``problems``; the others are kept."""

    sides: list[int | Run | GroupSide] | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_WEIGHTS, 1.0))
    tie_band: float = 2.0
    extra: list[int] = field(default_factory=list)
    traffic: float | None = None  # requests per month, for the break-even
    problems: list[str] = field(default_factory=list)


def read_link(params: Any) -> Link:
    """A page's query parameters (``a``, ``b``, ``w``, ``tie``, ``x``, ``t``) as a
    :class:`Link`.

    >>> link = read_link({"a": "3", "b": "4", "w": "9,1,1", "x": "1,2"})
    >>> link.sides, link.weights["cer"], link.extra, link.problems[0][:23]
    ([3, 4], 1.0, [1, 2], 'Cannot read the weights')
    """
    link = Link()
    readers: list[tuple[tuple[str, ...], Any]] = [
        (("a", "b"), lambda: [parse_side(params["a"]), parse_side(params["b"])]),
        (("w",), lambda: parse_weights(params["w"])),
        (("tie",), lambda: parse_tie_band(params["tie"])),
        (("x",), lambda: parse_extra(params["x"])),
        (("t",), lambda: parse_traffic(params["t"])),
    ]
    for keys, read in readers:
        if not all(k in params for k in keys):
            continue
        try:
            value = read()
        except BadLink as exc:
            link.problems.append(str(exc))
            continue
        name = {"a": "sides", "w": "weights", "tie": "tie_band", "x": "extra", "t": "traffic"}[
            keys[0]
        ]
        setattr(link, name, value)
    return link


def parse_traffic(text: str) -> float:
    """Requests per month from a link (``t=2000000``); :class:`BadLink` otherwise.

    >>> parse_traffic("2000000")
    2000000.0
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1e15:
        raise BadLink(
            f"Cannot read the traffic '{shorten_link(text)}' from the link (requests per month)."
        )
    return value


def parse_tie_band(text: str) -> float:
    """The tie band in percent from a link (``"2"`` is 2%); :class:`BadLink` otherwise.

    >>> parse_tie_band("2.5")
    2.5
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 20:
        raise BadLink(
            f"Cannot read the tie band '{shorten_link(text)}' from the link (a percent, 0-20)."
        )
    return value
