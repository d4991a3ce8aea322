"""Each service's schema migrations, one folder each, applied by storage.schema (playhouse.migrations)."""
