"""The Orders database's migrations: NNNN_name.py scripts applied in order (storage.schema)."""
