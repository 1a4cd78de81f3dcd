# gitlab-kaniko-tenant. Everything runs through `go` (helm and helm-docs are Go tools pinned in go.mod): a fresh
# machine needs Go for lint/matrix, and Go plus Node.js and npm for test (it runs gitlab-ci-local, GitLab's CI schema,
# pinned in tools/gitlab-ci-local and installed by the test into the project cache).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
HELM := $(GO) tool helm
CHARTS := charts/gitlab-kaniko-tenant charts/tenant-bootstrap
KUBE_VERSION ?= 1.37.0
# The e2e targets filter the test's output for the terminal. grep writing into a pipe buffers 4 KB, so a progress
# line would reach the screen only much later: every filter is line-buffered (test/progress_test.go runs each recipe
# under a pseudo-terminal and sees its first line before the command ends).
LINES := grep --line-buffered
# The first compile of the e2e suite takes minutes on a fresh machine and prints nothing: say so, compile, then run.
E2E_COMPILE = echo "compiling the e2e suite (first run: a few minutes)"; $(GO) test -tags e2e -c -o /dev/null ./test/e2e

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: test
test: ## Run all Go tests (charts, harness, tools); what CI runs
	@# 60m: the test package builds promtool cold on a fresh machine (778 s measured beside a cluster build, docs/testing.md)
	$(GO) test -timeout 60m ./...

.PHONY: lint
lint: ## helm lint --strict (defaults + every example values file), go vet, gofmt, schema and README drift
	@for c in $(CHARTS); do \
	  echo "helm lint --strict $$c (defaults)"; $(HELM) lint --strict --kube-version $(KUBE_VERSION) $$c >/dev/null; \
	  for f in $$c/ci/*.yaml; do echo "helm lint --strict $$c -f $$f"; $(HELM) lint --strict --kube-version $(KUBE_VERSION) $$c -f $$f >/dev/null; done; \
	done
	$(GO) vet ./...
	@# the e2e's helpers build without its test files (scenarios in _test.go use helpers, never the reverse)
	$(GO) build -tags e2e ./test/e2e/... && $(GO) vet -tags e2e ./test/e2e
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) run ./tools/gkt schema --check $(CHARTS)
	$(GO) test ./test/ -run 'TestChartMetadataInSync' -count=1 >/dev/null
	@$(GO) tool helm-docs --chart-search-root charts --log-level warning
	@git diff --exit-code -- 'charts/*/README.md' || { echo "chart README out of date: run make docs and commit"; exit 1; }

.PHONY: matrix
matrix: ## Render every permutation x Kubernetes version, validate offline, check bad values (one summary line)
	@$(GO) run ./tools/gkt matrix

.PHONY: bench
bench: ## Benchmark: in-process matrix vs helm template | kubeconform processes (ratio from one run, peak memory)
	$(GO) test -run '^$$' -bench BenchmarkMatrixVsCLI -benchtime 1x ./internal/harness/ | $(LINES) -E '^(bench:|Benchmark)'

.PHONY: review
review: ## Markdown review of the working tree against BASE (e.g. make review BASE=origin/main); tenants/ holds the reviewed values
	@test -n "$(BASE)" || { echo "usage: make review BASE=<git ref>"; exit 2; }
	@$(GO) run ./tools/gkt review --base "$(BASE)"

.PHONY: package
package: ## Build both chart archives into _out/charts
	@$(GO) run ./tools/gkt release package --out _out/charts

.PHONY: publish
publish: ## Push both charts to an OCI registry: make publish REGISTRY=oci://registry.example.com/charts
	@test -n "$(REGISTRY)" || { echo "usage: make publish REGISTRY=oci://host/path"; exit 2; }
	@$(GO) run ./tools/gkt release publish --registry "$(REGISTRY)" --out _out/charts

.PHONY: release-check
release-check: ## Package + OCI round trip through a Distribution registry + image list (one summary line)
	@$(GO) run ./tools/gkt release check

.PHONY: runner-keys
runner-keys: ## Decode the chart's config.toml with the real runner's types (source from ../shared/third_party); one summary line
	@$(GO) run ./tools/gkt runner keys

.PHONY: images
images: ## List every image the tenant chart uses for VALUES (default: chart defaults)
	@$(GO) run ./tools/gkt images list $(if $(VALUES),-f $(VALUES))

.PHONY: golden
golden: ## Rewrite the golden default renders in test/golden after reviewing a chart change
	$(GO) test ./test/ -run TestGoldenRenders -update-golden

.PHONY: schema
schema: ## Regenerate values.schema.json of both charts from annotated values.yaml
	$(GO) run ./tools/gkt schema $(CHARTS)

.PHONY: dashboard
dashboard: ## Regenerate the tenant chart's Grafana dashboard and its panel table in docs/operations.md (internal/dashboard)
	$(GO) run ./tools/gkt dashboard charts/gitlab-kaniko-tenant docs/operations.md

.PHONY: docs
docs: schema dashboard ## Regenerate chart READMEs (helm-docs) and schemas
	$(GO) tool helm-docs --chart-search-root charts --log-level warning

.PHONY: fmt
fmt: ## gofmt the Go code
	gofmt -w $$(git ls-files '*.go')

.PHONY: gkt
gkt: ## Build the gkt tool into bin/
	$(GO) build -o bin/gkt ./tools/gkt

# --- offline kind world (needs root and Docker; tools/e2e/host-prep.sh installs and starts what is missing) ---

.PHONY: e2e-host
e2e-host: ## Prepare this host: Docker (started here), debootstrap, runc wrapper only if privileged containers fail
	@bash tools/e2e/host-prep.sh

.PHONY: e2e-cluster
e2e-cluster: e2e-host ## Build the offline kind world from pinned sources (cached) and bring up the cluster
	@$(GO) run ./tools/e2e cluster

.PHONY: e2e-smoke
e2e-smoke: e2e-host ## Bring up or reuse the cluster and prove nodes, DNS and NetworkPolicy enforcement
	@$(GO) run ./tools/e2e smoke

.PHONY: e2e-clean
e2e-clean: ## Delete the e2e cluster and every cached artifact
	@$(GO) run ./tools/e2e clean --caches

.PHONY: e2e
e2e: e2e-host ## Runner tier (the real gitlab-runner from the chart, real Java and C# pipelines from the GitLab stand-in or GITLAB_URL) + job tier (isolation attacks); summary lines
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@$(GO) test -tags e2e -count=1 -timeout 120m -run 'TestRunnerTier|TestJobTier' -v ./test/e2e 2>&1 | tee _out/e2e/e2e.log | $(LINES) -E '^\[|^e2e:|^profiles:|^phases:|^observability:|^userns:|^(---|===|FAIL|ok|PASS)|\.go:[0-9]+: ' ; \
	  status=$${PIPESTATUS[0]}; grep -E '^(e2e|profiles|phases|observability|userns):' _out/e2e/e2e.log; exit $$status

.PHONY: demo
demo: e2e-host ## The main job: offline kind cluster, two tenants whose real runners run Java and C# pipelines with Kaniko, summary (idempotent)
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@GKT_DEMO=1 $(GO) test -tags e2e -count=1 -timeout 90m -run TestRunnerTier -v ./test/e2e 2>&1 | tee _out/e2e/demo.log | $(LINES) -vE '^\s+(\x1b|INFO|WARN|I1|W1)' | $(LINES) -E '^\[|^e2e:|^profiles:|^phases:|^observability:|^userns:|^==|^  |^tenant|^Look|^Where|^metrics|\.go:[0-9]+: |^(---|FAIL|ok)' ; \
	  exit $${PIPESTATUS[0]}

.PHONY: e2e-upgrade
e2e-upgrade: e2e-host ## Upgrade check on the e2e cluster: previous release -> working tree -> rollback, plus a Helm 4 client install
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@$(GO) test -tags e2e -count=1 -timeout 30m -run TestUpgradeFromPreviousRelease -v ./test/e2e 2>&1 | tee _out/e2e/upgrade.log | $(LINES) -E '^\[e2e|\.go:[0-9]+: |^(---|FAIL|ok)'; exit $${PIPESTATUS[0]}

.PHONY: e2e-runner
e2e-runner: e2e-host ## Runner tier alone: the GitLab stand-in, or a real GitLab with GITLAB_URL + GITLAB_TOKEN
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@$(GO) test -tags e2e -count=1 -timeout 90m -run TestRunnerTier -v ./test/e2e 2>&1 | tee _out/e2e/runner.log | $(LINES) -E '^\[e2e|^e2e:|^profiles:|^phases:|^observability:|^userns:|\.go:[0-9]+: |^(---|FAIL|ok)'; exit $${PIPESTATUS[0]}

.PHONY: e2e-hostile
e2e-hostile: e2e-host ## Hostile pipelines through the real runner (test/e2e/hostile/cases.yaml): each refused or blocked, each with a control (one summary line); some: make e2e-hostile RUN=KUBERNETES_NODE
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@$(GO) test -tags e2e -count=1 -timeout 60m -parallel 64 -run 'TestHostilePipelines$(if $(RUN),/cases/$(RUN))' -v ./test/e2e 2>&1 | tee _out/e2e/hostile.log | $(LINES) -E '^\[e2e|^hostile:|\.go:[0-9]+: |^(---|FAIL|ok)'; \
	  status=$${PIPESTATUS[0]}; grep '^hostile:' _out/e2e/hostile.log | tail -1; exit $$status

.PHONY: e2e-modes
e2e-modes: e2e-host ## The weaker modes through the real runner: namespace mode blocks every weakness case, shared mode (one namespace, taints) and daemonset mode (a manager per node; a node joins the group) run the pipelines, and shared mode shows each weakness live (one summary line)
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@$(GO) test -tags e2e -count=1 -timeout 90m -run TestModes -v ./test/e2e 2>&1 | tee _out/e2e/modes.log | $(LINES) -E '^\[e2e|^modes:|\.go:[0-9]+: |^(---|FAIL|ok)'; \
	  status=$${PIPESTATUS[0]}; grep '^modes:' _out/e2e/modes.log | tail -1; exit $$status

.PHONY: e2e-faults
e2e-faults: e2e-host ## Fault scenarios: the real runner (TestRunnerFaults: load, killed manager, upgrade, GitLab outage, token rotation, cache outage, drain, cancel, timeout with a dead manager, missing image), then the job tier's (TestFaults); one scenario: make e2e-faults RUN='TestRunnerFaults/killed'
	@mkdir -p _out/e2e
	@$(E2E_COMPILE)
	@$(GO) test -tags e2e -count=1 -timeout 120m -run '$(or $(RUN),TestFaults|TestRunnerFaults)' -v ./test/e2e 2>&1 | tee _out/e2e/faults.log | $(LINES) -E '^\[e2e|\.go:[0-9]+: |^faults:|^(---|FAIL|ok)'; \
	  status=$${PIPESTATUS[0]}; grep '^faults:' _out/e2e/faults.log; exit $$status
