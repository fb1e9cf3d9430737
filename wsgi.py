"""WSGI entry point: gunicorn wsgi:app."""

from citymgmt import create_app

app = create_app()
