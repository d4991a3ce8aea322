"""seed_products: the benchmark's catalogue, loaded in bulk."""
