"""The dashboard's pages: thin Streamlit scripts that `profkit.dashboard.app` runs through st.navigation (never imported)."""
