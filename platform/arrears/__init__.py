"""arrears: the collection platform, one package per domain on a kernel (docs/architecture.md)."""

__version__ = "0.1.0"
