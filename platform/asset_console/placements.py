"""Asset console: placements (委外) tabs, recall, extension, history, in-house monitoring."""
