"""The Products database's migrations: NNNN_name.py scripts applied in order (storage.schema)."""
