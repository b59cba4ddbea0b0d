"""Personal data protection: encryption at rest with key rotation, blind indexes, masking."""
