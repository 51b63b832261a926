# Fulfillment OMS. `make run` and `make test` work on a fresh clone: the
# first target that needs the tools installs them into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAGE ?= dev
PORT ?= 3000
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
LOCAL_PATH := PYTHONPATH=shared:local:.

.PHONY: help install run reset openapi test test-unit test-integration test-local test-e2e lint build deploy bench events replay-quarantine replay-dlq stock-job status-job channel-job shops shop-add demo backfill-lookups migrate-tokopedia stock-push-all sourcing-replay clean

help:
	@echo "make run      the OMS on this machine (API on http://127.0.0.1:$(PORT)), demo data seeded"
	@echo "make test     every test (unit, integration under moto, local runtime, end to end)"
	@echo "make lint     ruff, the import contracts, sam validate --lint and the OpenAPI check"
	@echo "make bench    benchmarks -> bench/results.json (ONLY=\"stock ack\" runs some, merged in)"
	@echo "make build    sam build (arm64) and an import check of the result"
	@echo "make deploy   sam deploy STAGE=<stage> into your AWS account"
	@echo "make reset    wipe the local state (.oms/)"

$(BIN)/.installed: requirements-dev.txt shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(LOCAL_PATH) PORT=$(PORT) $(BIN)/python -m oms_local run

reset:
	rm -rf .oms

test: install
	$(BIN)/python -m pytest tests

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-integration: install
	$(BIN)/python -m pytest tests/integration

test-local: install
	$(BIN)/python -m pytest tests/local

test-e2e: install
	$(BIN)/python -m pytest tests/e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared functions
	PYTHONPATH=shared:local $(BIN)/lint-imports
	$(BIN)/python scripts/check_function_imports.py
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/python scripts/openapi.py --check

# The one OpenAPI document (shared/oms/openapi.json), generated from every HTTP function's routes.
openapi: install
	$(BIN)/python scripts/openapi.py

# The functions run on python3.13; with pyenv, its 3.13 is selected for the build.
PY313 := $(shell pyenv versions --bare 2>/dev/null | grep -m1 '^3\.13')
build: install
	PYENV_VERSION=$${PYENV_VERSION:-$(PY313)} $(BIN)/sam build --template template.yaml
	PYENV_VERSION=$${PYENV_VERSION:-$(PY313)} $(BIN)/python scripts/check_build.py .aws-sam/build

deploy: build
	$(BIN)/sam deploy --stack-name oms-$(STAGE) --parameter-overrides Stage=$(STAGE) \
		$(PARAMS) --capabilities CAPABILITY_IAM --resolve-s3 --no-fail-on-empty-changeset

bench: install
	$(LOCAL_PATH) $(BIN)/python -m bench $(ONLY)

events: install
	$(BIN)/python scripts/make_events.py

# Against `make run` (the embedded AWS on OMS_MOTO_PORT) unless AWS_ENDPOINT_URL says otherwise.
OMS_MOTO_PORT ?= 4599
ADMIN := AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://127.0.0.1:$(OMS_MOTO_PORT)} \
	AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-testing} \
	$(BIN)/python scripts/oms_admin.py --stage $(if $(filter dev,$(STAGE)),local,$(STAGE))

replay-quarantine: install
	$(ADMIN) quarantine replay $(if $(CHANNEL),--channel $(CHANNEL))

replay-dlq: install
	$(ADMIN) dlq replay --queue $(QUEUE)

# Past sourcing decisions planned again under RULES (a JSON file like GET /sourcing/rules answers).
DAYS ?= 30
sourcing-replay: install
	$(ADMIN) sourcing replay --rules $(RULES) --days $(DAYS)

stock-job: install
	$(ADMIN) stock job --name $(JOB)

# The lookup items (order numbers, node work lists) of orders stored before they existed: run once after upgrading.
backfill-lookups: install
	$(ADMIN) orders backfill-lookups

# Tokopedia orders stored before Tokopedia moved onto the TikTok Shop API (2025-09-30); DRY_RUN=1 to look first.
migrate-tokopedia: install
	$(ADMIN) orders migrate-tokopedia $(if $(DRY_RUN),--dry-run)

# A status job now, against the local stack or STAGE: JOB=watch (flag orders) or JOB=poll (ask carriers).
status-job: install
	$(ADMIN) status job --name $(JOB)

# The seller's marketplace shops: `make shops` lists them and how each stands; connect one with
# `make shop-add CHANNEL=shopee SHOP_ID=880033 NAME="..." ACCESS_TOKEN=... [REFRESH_TOKEN=...] [EXPIRES_AT=<unix s>] [SHOP_CIPHER=...]`.
shops: install
	$(ADMIN) shops list

shop-add: install
	$(ADMIN) shops add --channel $(CHANNEL) --shop-id $(SHOP_ID) --name "$(NAME)" --access-token $(ACCESS_TOKEN) $(if $(REFRESH_TOKEN),--refresh-token $(REFRESH_TOKEN)) $(if $(EXPIRES_AT),--expires-at $(EXPIRES_AT)) $(if $(SHOP_CIPHER),--shop-cipher $(SHOP_CIPHER))

# A marketplace job now: JOB=reconcile [CHANNEL=shopee] (the missed-push safety net) or JOB=refresh_tokens.
channel-job: install
	$(ADMIN) channel job --name $(JOB) $(if $(CHANNEL),--channel $(CHANNEL))

# Marketplace orders end to end against a running `make run`: each channel's signed push, fetch, capture,
# a wrong signature, repeats, statuses out of order, a missed push recovered, stock and a shipment told back.
demo: install
	$(LOCAL_PATH) $(BIN)/python scripts/marketplace_demo.py
	$(LOCAL_PATH) $(BIN)/python scripts/shipping_demo.py

stock-push-all: install
	$(ADMIN) stock push-all $(if $(CHANNEL),--channel $(CHANNEL)) $(if $(SHOP),--shop $(SHOP))

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
