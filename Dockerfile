# The services' image: Products, Orders and Envoy (deploy/kubernetes/ runs all three from it).
# Not built on the machines this project is developed on (no container engine there); every step in it is a
# `make` target that `make test` runs, so only the image plumbing itself is untested. docs/deploy.md.
#   docker build -t REGISTRY/ecommerce-grpc:TAG . && docker push REGISTRY/ecommerce-grpc:TAG

# The Python that `make test` runs on.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# .venv with the services' dependencies (Envoy, PostgreSQL's driver, make's code generation; no test tools), the
# client installed editable (its stubs generated in place), the descriptor set.
RUN make all EXTRAS=build,gateway,postgres

FROM python:3.11-slim
# The client's editable install points into /app: the checkout is copied to the same path.
COPY --from=build /app /app
WORKDIR /app
# Numeric, so that Kubernetes' runAsNonRoot can tell it is not root.
RUN useradd --system --uid 10001 --no-create-home ecommerce
USER 10001
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
# The server's code runs from /app, the working folder: python -m services.orders and envoy are the other commands
# the manifests run.
CMD ["python", "-m", "services.products"]
