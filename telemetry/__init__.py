"""Logs and metrics that the web, worker and beat processes share.

prometheus_client decides once, when first imported, whether it writes its values
to files that every process adds up (PROMETHEUS_MULTIPROC_DIR). This package
sets that variable first, so `telemetry.metrics` must be where prometheus_client
is imported; it refuses to load after an import of it from anywhere else.
"""

import os

from settings import metrics_dir

os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(os.environ))
