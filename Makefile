# hookstream — the two commands that matter: `make run` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
DEV := .dev

.PHONY: all build run test test-short test-kafka test-faults test-hostile vet migrate pg-start pg-stop kafka-start kafka-stop clean

all: build

build:
	$(GO) build -o bin/hookstream ./cmd/hookstream

# The whole system in one process: embedded Kafka on 127.0.0.1:9092 (unless
# HOOKSTREAM_KAFKA_BROKERS is set) and a throwaway Postgres cluster (unless
# HOOKSTREAM_DATABASE_URL is set). The secret key and admin token are kept
# in .dev/ so that endpoints survive a restart.
run: build
	@mkdir -p $(DEV)
	@[ -s $(DEV)/secret-key ] || head -c 32 /dev/urandom | base64 > $(DEV)/secret-key
	@[ -s $(DEV)/admin-token ] || echo "hs_admin_$$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" > $(DEV)/admin-token
	@if [ -z "$${HOOKSTREAM_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	HOOKSTREAM_DATABASE_URL="$${HOOKSTREAM_DATABASE_URL:-$$(scripts/pg-local url)}" \
	HOOKSTREAM_SECRET_KEY="$${HOOKSTREAM_SECRET_KEY:-$$(cat $(DEV)/secret-key)}" \
	HOOKSTREAM_ADMIN_TOKEN="$${HOOKSTREAM_ADMIN_TOKEN:-$$(cat $(DEV)/admin-token)}" \
	HOOKSTREAM_HTTP_ADDR="$${HOOKSTREAM_HTTP_ADDR:-127.0.0.1:8080}" \
	HOOKSTREAM_METRICS_ADDR="$${HOOKSTREAM_METRICS_ADDR:-127.0.0.1:9090}" \
	HOOKSTREAM_LOG_FORMAT="$${HOOKSTREAM_LOG_FORMAT:-text}" \
	bin/hookstream dev

# Every test, against a real Postgres (started here unless
# HOOKSTREAM_TEST_DATABASE_URL is set) and kfake (or the brokers in
# HOOKSTREAM_KAFKA_BROKERS).
test: vet
	@if [ -z "$${HOOKSTREAM_TEST_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	HOOKSTREAM_TEST_DATABASE_URL="$${HOOKSTREAM_TEST_DATABASE_URL:-$$(scripts/pg-local url)}" \
	$(GO) test -race -count=1 -timeout 20m ./...

# The same suite on a real Apache Kafka broker (scripts/kafka-local fetches
# Kafka through Maven and runs it on 127.0.0.1:$(KAFKA_TEST_PORT), apart from
# make run's embedded Kafka on 9092).
KAFKA_TEST_PORT ?= 19092
test-kafka:
	HOOKSTREAM_KAFKA_PORT=$(KAFKA_TEST_PORT) scripts/kafka-local start
	@if [ -z "$${HOOKSTREAM_TEST_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	HOOKSTREAM_TEST_DATABASE_URL="$${HOOKSTREAM_TEST_DATABASE_URL:-$$(scripts/pg-local url)}" \
	HOOKSTREAM_KAFKA_BROKERS=127.0.0.1:$(KAFKA_TEST_PORT) \
	$(GO) test -count=1 -timeout 30m ./...

# Fault runs on the real broker: kill -9, a broker restart, a Postgres
# outage, rebalances, SIGTERM, poison records, ordered delivery through kill -9
# and a rebalance (see cmd/hookstream-faults/). FAULT_EVENTS
# per run.
FAULT_EVENTS ?= 5000
FAULT_SCENARIOS ?= all
test-faults:
	HOOKSTREAM_KAFKA_PORT=$(KAFKA_TEST_PORT) scripts/kafka-local start
	$(GO) run ./cmd/hookstream-faults -scenarios=$(FAULT_SCENARIOS) -events=$(FAULT_EVENTS) -kafka-port=$(KAFKA_TEST_PORT) -json $(DEV)/faults/results.json

# The hostile suite alone (also part of test and test-kafka): hostile
# publishers, receivers and stage records against a running hookstream, on
# kfake (or HOOKSTREAM_KAFKA_BROKERS), printing what hookstream answered.
test-hostile:
	@if [ -z "$${HOOKSTREAM_TEST_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	HOOKSTREAM_TEST_DATABASE_URL="$${HOOKSTREAM_TEST_DATABASE_URL:-$$(scripts/pg-local url)}" \
	$(GO) test -count=1 -v -run 'Hostile|Backlog|FanoutLimit|Quarantined' ./cmd/hookstream/ 2>&1 | grep -v ' level='

# The API against its OpenAPI document, from outside: schemathesis (pinned,
# installed once into .dev/) with every check and stateful runs along the
# document's links, against bin/hookstream dev on free ports and a fresh
# database (see scripts/api-fuzz). Any failure fails; about a minute.
# API_FUZZ_SEED and API_FUZZ_MAX_EXAMPLES vary it.
.PHONY: test-api
test-api:
	GO=$(GO) scripts/api-fuzz

# The console and the portals in a real browser: headless Chromium (Debian's
# package: apt-get install chromium; CHROMIUM names another binary) driven
# by chromedp from cmd/hookstream/ui_test.go (build tag ui), against
# hookstream on kfake and Postgres. Screenshots go to $(UI_SHOTS);
# `make ui-screenshots` refreshes those of docs/screenshots.
UI_SHOTS ?= $(DEV)/ui-shots
.PHONY: test-ui ui-screenshots
test-ui:
	@command -v "$${CHROMIUM:-chromium}" >/dev/null || { echo "test-ui needs Chromium: apt-get install chromium"; exit 1; }
	$(GO) vet -tags ui ./cmd/hookstream/
	@if [ -z "$${HOOKSTREAM_TEST_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	HOOKSTREAM_TEST_DATABASE_URL="$${HOOKSTREAM_TEST_DATABASE_URL:-$$(scripts/pg-local url)}" \
	HOOKSTREAM_UI_SCREENSHOTS="$(abspath $(UI_SHOTS))" \
	$(GO) test -tags ui -count=1 -timeout 10m -run '^TestUI' ./cmd/hookstream/

ui-screenshots:
	$(MAKE) test-ui UI_SHOTS=docs/screenshots

kafka-start:
	HOOKSTREAM_KAFKA_PORT=$(KAFKA_TEST_PORT) scripts/kafka-local start

kafka-stop:
	HOOKSTREAM_KAFKA_PORT=$(KAFKA_TEST_PORT) scripts/kafka-local stop

# Unit tests only: skips what needs Postgres.
test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@# The modules under deploy/ require this one: a dependency bumped here
	@# must be bumped there too, or their suites fail late in CI.
	@for m in deploy/image deploy/chartcheck; do (cd $$m && $(GO) mod tidy -diff >/dev/null) || { echo "$$m: go.mod is not tidy: run (cd $$m && go mod tidy)"; exit 1; }; done

migrate: build
	@if [ -z "$${HOOKSTREAM_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	HOOKSTREAM_DATABASE_URL="$${HOOKSTREAM_DATABASE_URL:-$$(scripts/pg-local url)}" bin/hookstream migrate

pg-start:
	scripts/pg-local start

pg-stop:
	scripts/pg-local stop

clean:
	rm -rf bin

# The chart, dashboard and alert rules in deploy/: helm lint and template
# (helm pinned, built once from the Go module proxy into .dev/tools), the
# chart checks in the deploy/chartcheck module, and promtool (Debian's
# prometheus package).
HELM_VERSION := v3.22.0
HELM := $(CURDIR)/$(DEV)/tools/helm-$(HELM_VERSION)/helm
CHART := deploy/helm/hookstream
CHART_ALL := deploy/helm/ci/all-features.yaml

.PHONY: test-deploy

$(HELM):
	@echo "building helm $(HELM_VERSION) (a few minutes, once)"
	GOBIN=$(dir $(HELM)) GOFLAGS=-mod=mod $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

test-deploy: $(HELM)
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --values $(CHART_ALL)
	$(HELM) template hookstream $(CHART) > /dev/null
	$(HELM) template hookstream $(CHART) --values $(CHART_ALL) > /dev/null
	cd deploy/chartcheck && $(GO) vet ./... && HELM=$(HELM) $(GO) test -count=1 ./...
	@command -v promtool >/dev/null || { echo "promtool not found: install it (Debian: apt-get install prometheus) to check the alert rules"; exit 1; }
	promtool check rules deploy/prometheus/alerts.yaml
	promtool test rules deploy/prometheus/alerts_test.yaml

# The container image (deploy/image; README "Deploy on Kubernetes"): a
# static hookstream for linux/amd64 and linux/arm64 on a scratch base (CA
# certificates, time zones, user 65532), reproducible (dates from
# SOURCE_DATE_EPOCH or the commit), built with go-containerregistry: no
# Docker engine, nothing pulled. Writes .dev/image/oci (an OCI layout) and
# .dev/image/hookstream.oci.tar (`podman load -i`), named
# $(IMAGE_REPO):<chart appVersion>. With IMAGE_REPO set, it is also pushed
# there (credentials from docker, podman or crane login).
IMAGE_REPO ?=
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: image test-image

image:
	GO=$(GO) $(GO) -C deploy/image run . -src $(CURDIR) -out $(CURDIR)/$(DEV)/image \
		-platforms $(IMAGE_PLATFORMS) $(if $(IMAGE_REPO),-repo $(IMAGE_REPO) -push)

# The image's tests: its structure, the same digest twice, a push to an
# in-process registry, and a real run under podman + runc (`migrate`, then
# every role in its own container on the real broker and Postgres, until a
# signed webhook arrives). Needs podman and runc (.ci/run installs them).
test-image:
	HOOKSTREAM_KAFKA_PORT=$(KAFKA_TEST_PORT) scripts/kafka-local start
	@if [ -z "$${HOOKSTREAM_TEST_DATABASE_URL:-}" ]; then scripts/pg-local start; fi
	cd deploy/image && $(GO) vet ./... && \
	HOOKSTREAM_TEST_DATABASE_URL="$${HOOKSTREAM_TEST_DATABASE_URL:-$$($(CURDIR)/scripts/pg-local url)}" \
	HOOKSTREAM_KAFKA_BROKERS=127.0.0.1:$(KAFKA_TEST_PORT) GO=$(GO) \
	$(GO) test -count=1 -v -timeout 30m ./...

# The benchmark (cmd/hookstream-bench/, docs/performance.md): a raw HTTP
# ceiling, then the steady, max, ingest, fanout, slow, backlog and fair
# scenarios against hookstream subprocesses on an embedded Kafka (or
# HOOKSTREAM_KAFKA_BROKERS) and the bench's own Postgres cluster with durable
# settings (scripts/pg-local in .dev/pg-bench on port 54339: fsync and
# synchronous commit on, tuned as docs/performance.md#postgres-settings says;
# never the shared test cluster). BENCH_FLAGS=-unsafe runs on a second
# cluster with fsync off and labels the figures so. `make bench` takes a few
# minutes; `make bench-full` uses the sizes of the targets (1,000,000-event
# backlog) and takes longer. BENCH_FLAGS adds flags, e.g.
# BENCH_FLAGS='-scenario=max -profile=10s'.
BENCH_FLAGS ?=

.PHONY: bench bench-full

bench:
	$(GO) run ./cmd/hookstream-bench -json $(DEV)/bench/results.json $(BENCH_FLAGS)

bench-full:
	$(GO) run ./cmd/hookstream-bench -full -json $(DEV)/bench/results-full.json $(BENCH_FLAGS)
