"""End to end: Products, Orders and the real Envoy as subprocesses, driven over REST, grpcurl and gRPC."""
