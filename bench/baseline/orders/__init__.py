"""The seed's orders app: Order and OrderItem and their REST API."""
