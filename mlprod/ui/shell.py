"""The app shell every page shares: sign-in, who is saving, the sidebar, start-up checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from mlprod import config
from mlprod.access import GRANT_HELP, AccessRules, Person, rules_file, rules_from
from mlprod.costs.fx import default_fx
from mlprod.costs.gpus import default_prices
from mlprod.costs.llm import default_llm_prices
from mlprod.errors import CostTableError
from mlprod.text import md

__all__ = [
    "access_rules",
    "author",
    "check_cost_tables",
    "ensure_app_shell",
    "favicon",
    "needs_sign_in",
    "person",
    "require_sign_in",
    "sidebar",
    "sign_in_on",
]

AUTHOR_KEY = "sidebar-author"


def ensure_app_shell() -> None:
    """Send a page that Streamlit ran on its own back through ``app.py``.

    With a ``pages/`` folder beside ``app.py``, the very first run of a fresh server takes
    Streamlit's legacy multipage path: a deep link (``/batch``) then runs the page file
    alone, without our navigation, sidebar and sign-in, and the server stays in that
    mode. Streamlit 1.67 offers no setting for this: ``PagesManager`` decides from the
    folder's existence when it is first built, and only ``st.navigation`` clears the flag,
    which a deep link never reaches. So clear it and rerun, which hands the run to
    ``app.py`` for good. ``tests/e2e/test_app_shell_browser.py`` fails if any page renders
    before ``app.py`` on a cold server.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


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


@st.cache_resource(show_spinner=False)
def favicon() -> Any:
    """The tab's icon, drawn here: a Material icon would be fetched from fonts.gstatic.com
    by every browser (nothing offline, a request to Google from every visit)."""
    from PIL import Image, ImageDraw

    size = 64
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((2, 2, size - 3, size - 3), radius=14, fill="#0F6CBD")
    draw.arc((12, 16, 52, 56), start=180, end=360, fill="white", width=6)  # a gauge
    draw.line((32, 36, 45, 22), fill="white", width=6)  # its needle
    draw.ellipse((27, 31, 37, 41), fill="white")
    return image


def sign_in_on() -> bool:
    """Whether sign-in is on (an ``[auth]`` section in the secrets)."""
    return sign_in_provider()[0]


def needs_sign_in() -> bool:
    """Whether sign-in is on and this visitor has not signed in yet."""
    return sign_in_provider()[0] and not st.user.is_logged_in


def access_rules() -> AccessRules:
    """The ``[mlprod.access]`` rules: of ``MLPROD_ACCESS_FILE`` if set, else of the secrets
    (the ``secrets.toml`` Streamlit reads, ``--secrets.files`` included)."""
    section = rules_file()
    if section is None:
        try:
            mlprod = st.secrets.get("mlprod") or {}
        except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
            mlprod = {}
        found = mlprod.get("access") if isinstance(mlprod, Mapping) else None
        section = _plain(found) if found else None
    return rules_from(section)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def person() -> Person | None:
    """Who is acting here: with sign-in on, the signed-in email as the rules make them
    (``None``: not let in); without sign-in, whoever typed their name (the local operator,
    as the CLI is: the dashboard then serves this machine only unless opened on purpose)."""
    if sign_in_provider()[0]:
        if not st.user.is_logged_in:
            return None
        return access_rules().person(str(st.user.get("email") or ""))
    return Person.local(author() or "")


def require_sign_in() -> None:
    """With sign-in on, nobody gets past this without signing in (OIDC via st.login), and
    nobody the access rules do not name."""
    if not needs_sign_in():
        if sign_in_provider()[0] and person() is None:
            st.title("mlprod")
            st.error(
                f"{md(str(st.user.get('email') or 'This account'))} has no access to this "
                f"dashboard. {GRANT_HELP}",
                icon=":material/block:",
            )
            st.button("Sign out", key="sign-out-refused", on_click=st.logout)
            st.stop()
        return
    provider = sign_in_provider()[1]
    st.title("mlprod")
    st.write("This dashboard is shared by the team. Sign in to see and save calculations.")
    st.button(
        "Sign in",
        type="primary",
        icon=":material/login:",
        key="sign-in",
        on_click=st.login,
        args=(provider,) if provider else (),
    )
    st.stop()


def author() -> str | None:
    """Who saves: the signed-in user's email when sign-in is on, else the sidebar name."""
    if sign_in_provider()[0] and st.user.is_logged_in:
        return str(st.user.get("email") or st.user.get("name") or "") or None
    name = str(st.session_state.get(AUTHOR_KEY) or "").strip()
    return name or None


def check_cost_tables() -> None:
    """Read the GPU price table, the exchange rates and the LLM price book at start: a bad
    row is named on every page (costs can still be typed in; the builders need the tables)."""
    try:
        default_prices()
        default_fx()
        default_llm_prices()
    except CostTableError as exc:
        st.error(f"The cost tables cannot be used: {md(exc)}", icon=":material/table:")


def sidebar() -> None:
    """Who is working, and which database they are working on."""
    with st.sidebar:
        if sign_in_provider()[0]:
            me = person()
            role: str = me.role if me else "viewer"
            if me is not None and me.role == "editor" and me.projects is not None:
                role = f"editor of {', '.join(sorted(me.projects))}"
            carried = "; saves carry this name" if me is not None and me.may_save() else ""
            st.caption(f"Signed in as **{md(author() or 'unknown')}** ({md(role)}){carried}.")
            if not access_rules().configured:
                st.caption(f"Everyone who signs in is a viewer for now. {GRANT_HELP}")
            st.button("Sign out", key="sign-out", icon=":material/logout:", on_click=st.logout)
        else:
            st.text_input(
                "Your name",
                key=AUTHOR_KEY,
                placeholder="e.g. Ada",
                help="Stored with every calculation you save, so the team knows who ran what.",
            )
        # Only the file's name (the server's folders are not every visitor's business), or
        # the database server's address without its user and password.
        st.caption(f"History database: `{config.database_label(config.database())}`")
