"""Helper scripts that use the services through their public gRPC API."""
