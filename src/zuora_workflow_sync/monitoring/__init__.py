"""Logs (with secret redaction), alerts and, later, metrics."""
