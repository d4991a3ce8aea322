"""The seed's products app: the Product model and its REST API."""
