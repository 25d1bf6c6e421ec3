"""The root URL: opens the Runs page at its own URL (`/runs`), keeping deep-link parameters."""

import streamlit as st

from profkit.dashboard import widgets

widgets.go("runs", query_params=st.query_params.to_dict())
