"""Market data: formats, validation, the data store, the embedded history and synthetic markets."""
