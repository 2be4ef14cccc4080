"""Batch scoring's upload: the uploaded file on disk, where pyarrow and DuckDB read it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

__all__ = ["max_upload_bytes", "spill_upload"]


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
