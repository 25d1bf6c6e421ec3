"""The profkit dashboard: a multipage Streamlit app over the runs in one traces directory.

Launch: `profkit dashboard [TRACES_DIR]`, or `streamlit run dashboards/app.py [-- --traces-dir DIR]`
(`$PROFKIT_TRACES_DIR` also works; the default is the bundled `traces/samples`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

from profkit.dashboard import paths, state
from profkit.errors import ProfkitError

PAGES_DIR = Path(__file__).resolve().parent / "views"  # not "pages/": Streamlit would auto-discover that
ADOPTED_KEY = "profkit.query_adopted"

#: (script, title, icon, url path); the first page is the default.
PAGES = (
    ("runs.py", "Runs", ":material/table_rows:", "runs"),
    ("detail.py", "Run detail", ":material/monitoring:", "detail"),
    ("compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("recommend.py", "Recommend", ":material/lightbulb:", "recommend"),
)


def main(argv: list[str] | None = None) -> None:
    st.set_page_config(page_title="profkit", page_icon="⏱️", layout="wide")  # an emoji: a material icon favicon is fetched online
    try:
        root = paths.traces_dir_from(sys.argv[1:] if argv is None else argv)
    except ProfkitError as exc:
        st.error(str(exc))
        st.stop()
    state.set_root(root)
    if not st.session_state.get(ADOPTED_KEY):  # deep links apply once, when the session opens
        st.session_state[ADOPTED_KEY] = True
        state.adopt_query_params()
    pages = [
        st.Page(PAGES_DIR / script, title=title, icon=icon, url_path=url, default=(i == 0))
        for i, (script, title, icon, url) in enumerate(PAGES)
    ]
    page = st.navigation(pages)
    st.sidebar.caption(f"Traces directory: `{root}`")
    page.run()


if __name__ == "__main__":
    main()
