"""The seed's migrations of the products app."""
