"""The framework's floor for the History page (#18): a plain Streamlit page that draws the
same charts, points and table from data already in memory (a pickle written by
``browser.py``: everything, and each model alone), with no database, no filters (a model
picked only chooses which of those to draw) and no mlprod page code.

    MLPROD_FLOOR=view.pickle streamlit run tests/benchmarks/floor_app.py
"""

import os
import pickle

import streamlit as st

st.set_page_config(layout="wide")


@st.cache_resource
def _view():
    with open(os.environ["MLPROD_FLOOR"], "rb") as fh:
        return pickle.load(fh)


views = _view()
st.title("History (floor)")
model = st.selectbox("Model", list(views))
view = views[model]
for column, (label, value) in zip(st.columns(5), view["metrics"], strict=True):
    column.metric(label, value)
st.altair_chart(view["charts"][0], theme=None)
left, right = st.columns(2)
with left:
    st.altair_chart(view["charts"][1], theme=None)
with right:
    st.altair_chart(view["charts"][2], theme=None)
st.altair_chart(view["charts"][3], theme=None)
st.dataframe(view["table"], hide_index=True)
