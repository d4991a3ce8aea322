"""The Products service: catalogue, search and stock."""
