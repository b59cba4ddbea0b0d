"""Adapters to things outside the process: file storage (local disk or S3)."""
