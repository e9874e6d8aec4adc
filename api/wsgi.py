"""The gunicorn target: the one module-level app, built once settings and services check out."""

from startup import config_or_exit, services_or_exit

# 3 is gunicorn's "worker failed to boot": the master stops instead of forking again.
WORKER_BOOT_ERROR = 3

config = config_or_exit(WORKER_BOOT_ERROR)
services_or_exit(config, exit_code=WORKER_BOOT_ERROR)

# After the checks: the app's modules read the settings as they load.
from api.app import create_app  # noqa: E402

app = create_app(config)
