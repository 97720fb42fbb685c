# Freigabe: the two commands people need are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(PATH):/opt/swift/usr/bin

LOCAL_ENV := .local/env
# Every recipe that talks to PostgreSQL, slapd or SMTP reads the settings `make services` wrote.
WITH_SERVICES := set -a; . $(LOCAL_ENV); set +a;
SWIFT_FORMAT_PATHS := Package.swift Sources Tests
# Roles and stewardships of the demo directory; connection settings come from .local/env.
DEMO_CONFIG := scripts/demo/freigabe.yaml
DEMO_CATALOG := scripts/demo/catalog.yaml

.PHONY: run test build services services-down lint format validate-workflows api-conformance dcat-check browser-tests bench bench-ldap bench-timers bench-audit bench-web clean

## Start PostgreSQL, slapd and the SMTP sink on loopback (installs them when run as root).
services:
	scripts/services up

services-down:
	scripts/services down

build:
	swift build

## Serve http://127.0.0.1:8080 with the local services.
run: services build
	$(WITH_SERVICES) "$$(swift build --show-bin-path)/freigabe" migrate
	$(WITH_SERVICES) "$$(swift build --show-bin-path)/freigabe" catalog import $(DEMO_CATALOG) --actor make-run
	$(WITH_SERVICES) FREIGABE_SMTP_CA_FILE="$${FREIGABE_SMTP_CA_FILE:-$$FREIGABE_TEST_TLS_DIR/ca.pem}" \
		exec "$$(swift build --show-bin-path)/freigabe" serve --config $(DEMO_CONFIG)

## Everything CI checks: services, all test targets, the shipped workflows, the live server against
## its OpenAPI document (schemathesis), the pages in headless Chromium (Tests/Browser), formatting.
test: services
	swift build --build-tests
	# One test target per run: the CPU-heavy pure engine tests would otherwise starve the cooperative
	# threads on a 2-core machine and make the LDAP tests' "fails within the timeout" checks flaky.
	$(WITH_SERVICES) swift test --skip-build --filter WorkflowEngineTests
	$(WITH_SERVICES) swift test --skip-build --filter LDAPDirectoryTests
	$(WITH_SERVICES) swift test --skip-build --filter FreigabeServerTests
	$(WITH_SERVICES) swift test --skip-build --filter SMTPClientTests
	$(WITH_SERVICES) swift test --skip-build --filter AuditLogTests
	$(MAKE) validate-workflows
	$(MAKE) api-conformance
	$(MAKE) dcat-check
	$(MAKE) browser-tests
	$(MAKE) lint

api-conformance: services
	swift build --product freigabe
	scripts/api-conformance-live

## The Open Data catalogue of a live server parsed with rdflib (pinned, venv .local/venv-dcat): one
## dataset with a hostile title published through the API, the expected triples in Turtle and JSON-LD.
dcat-check: services
	swift build --product freigabe
	scripts/dcat-check

## The pages in headless Chromium (installs chromium, chromium-driver and the pinned venv when missing):
## axe-core on every page in German and English, screenshots at 320/1440 px into .local/screenshots/.
browser-tests: services
	swift build --product freigabe
	scripts/browser-tests

validate-workflows:
	swift build --product freigabe
	"$$(swift build --show-bin-path)/freigabe" workflow validate $(wildcard Workflows/*.yaml Workflows/*.yml)

lint:
	swift format lint --strict --recursive $(SWIFT_FORMAT_PATHS)

format:
	swift format --in-place --recursive $(SWIFT_FORMAT_PATHS)

## Figures, not tests (release build, scratch databases): decisions/s, p50/p99 and the pgbench -N ratio;
## decisions/s with the sealer off and on, seal lag; mail delay at 100 decisions/s with 2 instances.
bench: services
	scripts/bench

## Figures, not tests: logins/s and p50/p99 against the local slapd (release build).
bench-ldap: services
	swift build -c release --product freigabe-bench
	$(WITH_SERVICES) "$$(swift build -c release --show-bin-path)/freigabe-bench" ldap --config $(DEMO_CONFIG)

## Figures, not tests: timers/s when 3 instances drain 10,000 due timers (scratch database).
bench-timers: services
	swift build -c release --product freigabe-bench
	$(WITH_SERVICES) "$$(swift build -c release --show-bin-path)/freigabe-bench" timers

## Figures, not tests: the decision log over 100,000 sealed events loaded in bulk (scratch database;
## AUDIT_EVENTS=… for another count): sealing, auditor queries, exports, offline and database verification.
## AUDIT_FLAGS=--private-cluster runs in a PostgreSQL cluster of its own (needed for the cold figures).
bench-audit: services
	swift build -c release --product freigabe-bench
	$(WITH_SERVICES) "$$(swift build -c release --show-bin-path)/freigabe-bench" audit --events $${AUDIT_EVENTS:-100000} $(AUDIT_FLAGS)

## Figures, not tests: inbox page with 500 open tasks and a long request page, 16 clients: pages/s,
## p50/p99, bytes per page, peak RSS (release build, scratch database, mail off).
bench-web: services
	scripts/bench-web

clean:
	rm -rf .build
