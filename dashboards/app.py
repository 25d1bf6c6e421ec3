"""`streamlit run dashboards/app.py [-- --traces-dir DIR]`: the profkit dashboard, which lives in
`profkit/dashboard/app.py` so that `profkit dashboard` finds it in any install."""

import sys
from pathlib import Path

CHECKOUT = str(Path(__file__).resolve().parent.parent)
if CHECKOUT not in sys.path:  # a checkout without `pip install -e .`; Streamlit reruns this script
    sys.path.insert(0, CHECKOUT)

from profkit.dashboard.app import main  # noqa: E402

main()
