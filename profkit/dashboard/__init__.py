"""The Streamlit dashboard's glue (front-end code only; no analysis logic lives here).

  paths    -- which traces directory the app serves, and keeping every path inside it
  uploads  -- size-limited, validated analysis of a trace file uploaded from the browser
  data     -- `st.cache_resource` / `st.cache_data` wrappers around the library calls the CLI makes
  charts   -- plotly figure builders that take analysis dataclasses and return figures
  state    -- the session-state keys pages share (selected trace, compare pair)
  app      -- the multipage app (`profkit dashboard`, `streamlit run dashboards/app.py`)
  views/   -- one thin script per page (not `pages/`, which Streamlit would list on its own)

The app and its pages live inside the package so that `profkit dashboard` finds them in any
install (editable or not); `dashboards/app.py` is a shim for `streamlit run dashboards/app.py`.
"""
