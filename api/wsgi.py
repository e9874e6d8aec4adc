"""The gunicorn target: the one module-level app."""

from api.app import create_app

app = create_app()
