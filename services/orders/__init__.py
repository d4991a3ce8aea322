"""The Orders service: orders and their items, status workflow, stock through the Products service."""
