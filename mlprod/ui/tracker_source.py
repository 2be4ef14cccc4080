"""Batch scoring's third source: files a tracker (or an evaluation tool) left on disk,
uploaded.

The person picks the tracker or tool and uploads its files (or a .zip of its folders); they are
laid out as the tracker lays them out (never under the uploaded names: those can be
anything) and read with the command line's readers, each run's quality at its best or
last step. The runs then go through the same mapping, scenario, score and save steps as
an uploaded file of runs.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import streamlit as st

from mlprod.errors import BadFile, InvalidInput
from mlprod.quality import Metric
from mlprod.text import md
from mlprod.trackers import FILE_SOURCES
from mlprod.ui.uploads import SessionFolder, max_upload_bytes

__all__ = ["tracker_runs"]

KEY = "batch-tracker"

#: Where an uploaded file goes (``{i}``: its number), as each tracker names its files.
LAYOUT = {
    "wandb": "{i}/run-{i}.wandb",
    "tensorboard": "{i}/events.out.tfevents.{i}",
    "trainer": "{i}/trainer_state.json",
    "lightning": "{i}/metrics.csv",
    "dvc": "exp-show-{i}.json",
    "mlruns": "{i}/upload",  # only as a .zip of the mlruns folder
    "codecarbon": "emissions-{i}.csv",
    "lm-eval": "{i}/results_{i}.json",
    "promptfoo": "promptfoo-{i}.json",
}
#: The most files a .zip may unpack to (a tracker's folder of runs is far fewer).
MAX_MEMBERS = 20_000


def _unzip(data: bytes, target: Path, limit: int) -> None:
    """A .zip's files under ``target``: only plain relative paths, and no more than
    ``limit`` bytes in all (a zip bomb stops at the limit, not the disk's end)."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BadFile("The .zip cannot be opened.") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise BadFile(f"The .zip holds {len(members):,} files; the limit is {MAX_MEMBERS:,}.")
    total = 0
    for member in members:
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if (
            not parts
            or any(p in ("", ".", "..") or len(p) > 200 for p in parts)
            or (member.filename.startswith("/"))
        ):
            continue  # an absolute, climbing or outlandish path is not unpacked
        total += member.file_size
        if total > limit:
            raise BadFile(f"The .zip unpacks to more than {limit / 1e6:,.0f} MB.")
        out = target.joinpath(*parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(archive.read(member))


def _as_uploaded(runs: pa.Table, uploaded: dict[str, str]) -> pa.Table:
    """The runs with each file named as it was uploaded (``results_cut.json cannot be
    read``, not the name it was laid out under) in their ids, names and problems."""
    for column in ("run_id", "run_name", "row_error"):
        if column not in runs.column_names or not pa.types.is_string(
            runs.schema.field(column).type
        ):
            continue
        values = runs[column]
        for laid_out, name in uploaded.items():
            if laid_out != name:
                values = pc.replace_substring(values, laid_out, name)
        runs = runs.set_column(runs.column_names.index(column), column, values)
    return runs


def tracker_runs(metric: Metric, *, best: bool) -> tuple[Path, str, str] | None:
    """The tracker and upload widgets; the runs read (a Parquet file), a name for them
    and their format; None until there are runs to score."""
    tracker = st.selectbox(
        "Tracker or evaluation tool",
        list(FILE_SOURCES),
        format_func=lambda name: FILE_SOURCES[name].what,
        key=f"{KEY}-name",
    )
    uploads = st.file_uploader(
        "Its files, or a .zip of its folders",
        accept_multiple_files=True,
        key=f"{KEY}-files",
        help=f"Read: {FILE_SOURCES[tracker].fed}.",
    )
    if not uploads:
        st.info(f"Upload the files of {FILE_SOURCES[tracker].what}: {FILE_SOURCES[tracker].fed}.")
        return None
    wanted = (tracker, tuple(u.file_id for u in uploads), metric.key, best)
    held = st.session_state.get(KEY)
    if held is not None and held[0] == wanted and held[1].exists():
        return held[1], held[2], held[3]
    folder = SessionFolder()  # goes with these runs: replaced, or the session ends
    root = folder.path / "runs"
    uploaded: dict[str, str] = {}  # a file's name as laid out -> as the person uploaded it
    try:
        for i, upload in enumerate(uploads):
            target = root / f"{i:04d}"
            if upload.name.lower().endswith(".zip"):
                _unzip(upload.getvalue(), target, max_upload_bytes())
                continue
            if tracker == "mlruns":
                raise BadFile("Upload an MLflow file store as a .zip of its mlruns folder.")
            out = root / LAYOUT[tracker].format(i=f"{i:04d}")
            if tracker == "lightning" and upload.name.lower().endswith((".yaml", ".yml")):
                out = root / "0000" / "hparams.yaml"  # the hyperparameters of the run
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(upload.getvalue())
            uploaded[out.name] = upload.name
        with st.spinner("Reading the runs…"):
            runs = _as_uploaded(FILE_SOURCES[tracker].read([root], metric, best=best), uploaded)
    except (BadFile, InvalidInput, OSError) as exc:
        folder.remove()
        st.error(md(exc), icon=":material/error:")
        return None
    if runs.num_rows == 0:
        folder.remove()
        st.warning(f"No runs of {FILE_SOURCES[tracker].what} in these files.")
        return None
    path = folder.path / f"{tracker}-runs.parquet"
    pq.write_table(runs, path)
    name = f"{tracker}: {len(uploads):,} upload{'s' if len(uploads) != 1 else ''}"
    fmt = FILE_SOURCES[tracker].format
    st.session_state[KEY] = (wanted, path, name, fmt, folder)
    return path, name, fmt
