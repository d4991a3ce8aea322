# One obvious command each: `make run` starts everything, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The server's extras installed into .venv (pyproject.toml): dev is every one; the Dockerfile's image takes fewer.
EXTRAS ?= dev

PROTOS := $(sort $(shell find protos -name '*.proto'))
# The client (clients/python): its package holds the generated stubs, which the services import too.
CLIENT := clients/python
GENERATED := $(CLIENT)/src/ecommerce/.generated
DESCRIPTOR := build/api_descriptor.pb
# Envoy serves it at /api/openapi.json; scripts.gateway expects it beside the descriptor set.
OPENAPI := build/openapi.json
# The Buf CLI, from PyPI's buf-bin (the lint extra): the same binary as npm's @bufbuild/buf, without Node.
BUF := $(VENV)/bin/buf
# Where googleapis-common-protos keeps google/api and google/rpc .proto files.
GOOGLEAPIS = $(shell $(PY) -c 'import google.rpc.status_pb2 as m, pathlib; print(pathlib.Path(m.__file__).parents[2])')

.PHONY: all install run run-secure test lint bench bench-postgres sample-data dist clean

# The TypeScript client (clients/typescript): protoc-gen-es and connect-web from npm, pinned by its package-lock.json;
# built where npm is installed (the browser tests need it).
TS_CLIENT := clients/typescript
TS_MODULES := $(TS_CLIENT)/node_modules/.installed
TS_GENERATED := $(TS_CLIENT)/gen/.generated
NPM := $(shell command -v npm 2>/dev/null)

# The API reference Envoy serves at /api/docs/: Swagger UI from npm, pinned by envoy/api-docs/package-lock.json.
API_DOCS_MODULES := envoy/api-docs/node_modules/.installed

all: $(GENERATED) $(DESCRIPTOR) $(OPENAPI) $(if $(NPM),$(TS_GENERATED) $(API_DOCS_MODULES))

install: $(INSTALLED)

# The server installs its dependencies only (its code runs from here); the client is installed editable, so that
# its package (src/ecommerce) is imported from this checkout, stubs included.
$(INSTALLED): pyproject.toml $(CLIENT)/pyproject.toml VERSION
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e $(CLIENT) '.[$(EXTRAS)]'
	touch $@

$(GENERATED): $(PROTOS) $(CLIENT)/stubs.py $(INSTALLED)
	$(PY) $(CLIENT)/stubs.py
	touch $@

# The client's wheel, for those who call the API from Python: its build generates the stubs afresh.
DIST ?= dist
dist: $(INSTALLED)
	$(PY) -m pip wheel --quiet --no-deps --disable-pip-version-check --wheel-dir $(DIST) $(CLIENT)

# The transcoder needs every imported file, and google.rpc's status and details to print errors.
$(DESCRIPTOR): $(PROTOS) $(INSTALLED)
	mkdir -p build
	$(PY) -m grpc_tools.protoc -I protos -I $(GOOGLEAPIS) --include_imports --include_source_info \
		--descriptor_set_out=$@ $(PROTOS:protos/%=%) google/rpc/status.proto google/rpc/error_details.proto

# Each npm project's packages (the TypeScript client's, the API reference's), as its package-lock.json pins them.
%/node_modules/.installed: %/package.json %/package-lock.json
	npm ci --prefix $* --no-audit --no-fund --loglevel=error
	touch $@

$(TS_GENERATED): $(DESCRIPTOR) $(TS_MODULES) scripts/typescript_client.py
	$(PY) -m scripts.typescript_client
	touch $@

# The REST API's OpenAPI document, from the descriptor set's http rules, messages and comments.
$(OPENAPI): $(DESCRIPTOR) scripts/openapi.py
	$(PY) -m scripts.openapi --descriptor $(DESCRIPTOR) --out $@

# Envoy's configuration is rendered by scripts.run at each start, for the addresses in effect then.
run: all
	$(PY) -m scripts.run

# As `run`, with tokens checked: a local signing key in data/auth (made once), an admin and a customer token printed
# with a curl and a grpcurl line. Orders signs its own service tokens with the same key.
AUTH_DIR := data/auth
run-secure: all
	$(PY) -m scripts.tokens keys --dir $(AUTH_DIR) --if-missing
	$(PY) -m scripts.tokens local --dir $(AUTH_DIR)
	AUTH_JWKS=$(AUTH_DIR)/jwks.json ORDERS_SERVICE_KEY=$(AUTH_DIR)/signing-key.json $(PY) -m scripts.run

# The whole suite twice: on SQLite, then on a throwaway PostgreSQL server (skipped, saying so, where
# PostgreSQL is not installed; ECOMMERCE_REQUIRE_POSTGRES=1 makes that a failure, as in CI).
test: all
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m scripts.throwaway_postgres -- $(PY) -m pytest $(PYTEST_ARGS)

# Static checks: ruff over the Python (rules and exceptions in pyproject.toml); Redocly's recommended rules over the
# OpenAPI document (exceptions in redocly.yaml; where npm is installed); buf lint over the protos and buf
# breaking against the protos of the previous commit (HEAD~1, main's previous state in CI), both on descriptor
# sets that protoc builds (buf.yaml says why).
lint: $(INSTALLED) $(DESCRIPTOR) $(OPENAPI) $(if $(NPM),$(API_DOCS_MODULES))
	$(VENV)/bin/ruff check .
	$(if $(NPM),REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true envoy/api-docs/node_modules/.bin/redocly lint $(OPENAPI) --config redocly.yaml --format=summary,\
		@echo 'redocly lint: skipped, npm is not installed')
	$(BUF) lint $(DESCRIPTOR)#format=binpb --path ecommerce
	@if ! git rev-parse -q --verify HEAD~1 >/dev/null; then echo 'buf breaking: no previous commit here (a shallow clone?)'; \
	else set -e; rm -rf build/previous && mkdir -p build/previous; \
		git archive HEAD~1 protos | tar -x -C build/previous; \
		$(PY) -m grpc_tools.protoc -I build/previous/protos -I $(GOOGLEAPIS) --include_imports --include_source_info \
			--descriptor_set_out=build/previous.pb $$(cd build/previous/protos && find . -name '*.proto' | sed 's|^./||'); \
		$(BUF) breaking $(DESCRIPTOR)#format=binpb --against build/previous.pb#format=binpb --path ecommerce \
			&& echo 'buf breaking: no change that breaks clients of HEAD~1'; fi


# The benchmark: seeds 1,000,000 products and 1,000,000 orders, runs every scenario for 10 s each, prints the table and
# the targets, and writes bench/results/latest.json and latest.png. h2load is installed with apt-get when missing.
# BENCH_ARGS=... passes arguments on (python -m bench --help); BENCH_DB=postgresql://... or BENCH_DB=throwaway for PostgreSQL.
bench: all
	$(PY) -m bench $(BENCH_ARGS)

# The same on a throwaway PostgreSQL server (pg_stat_statements loaded: SQL statements per request are counted),
# compared with the latest `make bench` of the same size from the two hours before (target 6).
bench-postgres: all
	BENCH_DB=throwaway $(PY) -m bench $(BENCH_ARGS)

sample-data: all
	$(PY) -m scripts.sample_data

clean:
	rm -rf $(CLIENT)/src/ecommerce/products $(CLIENT)/src/ecommerce/orders $(GENERATED) build dist $(VENV) \
		$(TS_CLIENT)/node_modules $(TS_CLIENT)/gen envoy/api-docs/node_modules
