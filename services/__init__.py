"""The gRPC services, one package each, and the server plumbing they share."""
