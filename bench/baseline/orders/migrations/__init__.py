"""The seed's migrations of the orders app."""
