"""The operator's command line, `ecommerce`: the shop's gRPC API from a terminal or a script."""
