"""Text from data, made inert for where it is shown: a terminal line (:func:`plain`) or
Streamlit's markdown (:func:`md`). Imports nothing heavy: every CLI command uses it."""

from __future__ import annotations

import re

__all__ = ["md", "plain"]

# Every ASCII punctuation mark: CommonMark lets a backslash make each one literal, and
# each may start something (markdown, HTML, autolinks such as http:// www. or a@b.c, and
# Streamlit's additions: $ for LaTeX, : for emoji, icons and colours).
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")
# Characters that act on a terminal or on the text around them rather than show: control
# characters (ESC starts the terminal's own commands: OSC 52 writes the clipboard, ESC[2J
# clears the screen), and the bidirectional overrides and isolates that reorder a line.
# What GitHub-flavoured markdown turns into a link after escapes are read (a scheme, www.,
# an address's @): a word joiner (U+2060, invisible) after each keeps the text a text.
_AUTOLINK = re.compile(r"(?i)(\b(?:https?|ftp|mailto|xmpp)(?=:)|\bwww(?=\.)|@)")
_UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: object, *, keep: str = "") -> str:
    r"""``text`` (a run name, a cell value) as one inert line for a terminal or a page: each
    control or reordering character is shown as its escape (``\x1b``, ``\n``, ``\u202e``),
    so nothing in it can move the cursor, write the clipboard or reorder the line. ``keep``:
    the characters left as they are (a terminal's own line breaks).

    >>> print(plain("bert\x1b]52;c;ZXZpbA==\x07\nnext \u202eevil"))
    bert\x1b]52;c;ZXZpbA==\x07\nnext \u202eevil
    >>> plain("نموذج 🚀 модель")
    'نموذج 🚀 модель'
    """

    def shown(match: re.Match[str]) -> str:
        found = match.group(0)
        return found if found in keep else found.encode("unicode_escape").decode("ascii")

    return _UNSHOWN.sub(shown, str(text))


def md(text: object) -> str:
    r"""``text`` (a run name, a file name, an error naming a column) shown literally where
    Streamlit renders markdown: nothing in it can format, link or hide itself, and it stays
    one line (line breaks become spaces; other control characters as in :func:`plain`).

    >>> print(md("**bold** :red[x] $y$ http://a.b ann@c.d").replace("\u2060", "|"))
    \*\*bold\*\* \:red\[x\] \$y\$ http|\:\/\/a\.b ann\@|c\.d
    """
    text = _AUTOLINK.sub("\\1\u2060", plain(" ".join(str(text).splitlines())))
    return _MARKDOWN.sub(r"\\\1", text)
