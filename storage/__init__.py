"""Persistence: Peewee models and database set-up, one database per service."""
