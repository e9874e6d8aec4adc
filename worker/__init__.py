"""The background worker: Celery app, tasks, and clients for outside services."""
