"""The profkit dashboard: a multipage Streamlit app over the runs in one traces directory.

Launch: `profkit dashboard [TRACES_DIR]`, or `streamlit run dashboards/app.py [-- --traces-dir DIR]`
(`$PROFKIT_TRACES_DIR` also works; the default is the bundled `traces/samples`). Both entry points
run with `SERVER_OPTIONS` (`profkit dashboard` passes them; `.streamlit/config.toml` in the
repository holds the same for `streamlit run` from the checkout).

Every page has its own URL (`/runs`, `/detail?trace=REF`, `/compare?a=REF&b=REF`, `/recommend`);
"/" opens the Runs page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

from profkit.dashboard import state
from profkit.errors import ProfkitError

PAGES_DIR = Path(__file__).resolve().parent / "views"  # not "pages/": Streamlit would auto-discover that

#: (script, title, icon, url path) of the pages in the navigation.
PAGES = (
    ("runs.py", "Runs", ":material/table_rows:", "runs"),
    ("detail.py", "Run detail", ":material/monitoring:", "detail"),
    ("compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("recommend.py", "Recommend", ":material/lightbulb:", "recommend"),
)
#: The hidden page served at "/": it opens the Runs page at its own URL, query parameters kept.
HOME = ("home.py", "profkit", "home")

#: Server options of both entry points (`.streamlit/config.toml` must say the same; a test checks it).
SERVER_OPTIONS = {
    "server.address": "127.0.0.1",
    "server.maxUploadSize": 64,  # MB: profkit.dashboard.uploads.UPLOAD_LIMIT_BYTES
    "browser.gatherUsageStats": False,
    "client.showErrorDetails": "none",
    "client.toolbarMode": "minimal",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def traces_dir_from(argv: list[str] | None = None, environ: dict | None = None) -> Path:
    """The traces directory: `--traces-dir DIR` in `argv` (what `profkit dashboard` passes after `--`),
    else $PROFKIT_TRACES_DIR, else the bundled samples."""
    from profkit.store.paths import traces_dir

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--traces-dir")
    given, _ = parser.parse_known_args(argv or [])
    return traces_dir(given.traces_dir, environ, option="--traces-dir")


def main(argv: list[str] | None = None) -> None:
    st.set_page_config(page_title="profkit", page_icon="⏱️", layout="wide")  # an emoji: a material icon favicon is fetched online
    st.set_option("client.showErrorDetails", SERVER_OPTIONS["client.showErrorDetails"])
    try:
        root = traces_dir_from(sys.argv[1:] if argv is None else argv)
    except ProfkitError as exc:
        st.error(str(exc))
        st.stop()
    state.set_root(root)
    pages = [st.Page(PAGES_DIR / HOME[0], title=HOME[1], url_path=HOME[2], default=True, visibility="hidden")]
    pages += [st.Page(PAGES_DIR / script, title=title, icon=icon, url_path=url) for script, title, icon, url in PAGES]
    page = st.navigation(pages)
    st.sidebar.caption(f"Traces directory: `{root}`")
    if st.get_option("server.address") not in LOOPBACK:
        st.sidebar.warning(f"This server listens on {st.get_option('server.address') or 'every interface'}: other machines can see this folder.")
    try:
        page.run()
    except ProfkitError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 -- a bug on one page: one line, never a traceback in the browser
        first = str(exc).splitlines()[0] if str(exc) else ""
        st.error(f"This page could not be drawn ({type(exc).__name__}: {first}); the other pages still work.")
    from profkit.dashboard.widgets import preload_charts

    preload_charts()  # after the page: its own content comes first


if __name__ == "__main__":
    main()
