"""arrears: the shared kernel of the collection platform (models, services, tenancy, queue)."""

__version__ = "0.1.0"
