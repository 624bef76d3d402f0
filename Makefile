# cisecs: make help lists the targets.
SHELL := /bin/bash
# A recipe's pipeline fails when any command in it fails, not only the last
# (a `go test | grep` must not hide a failing test).
.SHELLFLAGS := -o pipefail -c
BIN   := $(CURDIR)/_bin
GO    ?= go
# Says every 30 s that a long step still runs.
PROGRESS := $(CURDIR)/tools/progress
export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: build
build: ## build cisecs and packer-plugin-cisecs into ./_bin
	$(GO) build -o $(BIN)/cisecs ./cmd/cisecs
	$(GO) build -o $(BIN)/packer-plugin-cisecs ./cmd/packer-plugin-cisecs

.PHONY: script
script: ## print the host script with the built-in defaults (the main job, no AWS needed)
	@$(GO) run ./cmd/cisecs script

# Pinned tools (tools/go.mod), built into ./_bin through a per-machine cache.
$(BIN)/packer-sdc: tools/go.mod tools/go.sum
	tools/build packer-sdc github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc
$(BIN)/packer: tools/go.mod tools/go.sum
	tools/build packer github.com/hashicorp/packer
$(BIN)/packer-plugin-amazon: tools/go.mod tools/go.sum
	tools/build packer-plugin-amazon github.com/hashicorp/packer-plugin-amazon
$(BIN)/actionlint: tools/go.mod tools/go.sum
	tools/build actionlint github.com/rhysd/actionlint/cmd/actionlint

.PHONY: tools
tools: $(BIN)/packer-sdc $(BIN)/packer $(BIN)/packer-plugin-amazon $(BIN)/actionlint ## build the pinned tools (tools/go.mod) into ./_bin

# Packer (1.11+) loads plugins only from its plugin directory.
export PACKER_PLUGIN_PATH := $(BIN)/plugins
export CHECKPOINT_DISABLE := 1

.PHONY: plugins
plugins: build tools ## install the Amazon plugin and ours into ./_bin/plugins for the pinned Packer
	@$(BIN)/packer plugins install --path $(BIN)/packer-plugin-amazon github.com/hashicorp/amazon >/dev/null
	@$(BIN)/packer plugins install --path $(BIN)/packer-plugin-cisecs github.com/cisecs/cisecs >/dev/null
	@$(BIN)/packer plugins installed

.PHONY: generate
generate: $(BIN)/packer-sdc ## regenerate generated files (HCL2 specs); CI checks they are up to date
	$(GO) generate ./...

.PHONY: check-generate
check-generate: generate ## fail if generated files are stale
	@git diff --exit-code -- '*.hcl2spec.go' || { echo "generated files are stale: run make generate and commit"; exit 1; }

.PHONY: prereqs
prereqs: ## check that the commands the tests need are installed (./run test installs them)
	@./run check test

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt would change: $$out"; exit 1; }
	@echo "lint: go vet ./... (a minute or two on a cold build cache)"
	@$(PROGRESS) "lint: go vet" $(GO) vet ./...

.PHONY: quick
quick: ## the fast loop: gofmt, go vet and every test that needs neither root nor Packer (go test -short), in under a minute warm
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt would change: $$out"; exit 1; }
	$(GO) vet ./...
	$(GO) test -short ./...

.PHONY: lint-workflow
lint-workflow: $(BIN)/actionlint ## render the nightly CI workflow for the shipped images and check it with actionlint (and shellcheck)
	@command -v shellcheck >/dev/null || { echo "lint-workflow: actionlint checks the scripts with shellcheck: apt-get install shellcheck"; exit 1; }
	@mkdir -p _build && $(GO) run ./cmd/cisecs pipeline -o _build/cisecs-nightly.yml >/dev/null
	$(BIN)/actionlint _build/cisecs-nightly.yml
	@echo "lint-workflow: _build/cisecs-nightly.yml is clean"

.PHONY: validate-templates
validate-templates: plugins ## packer init, fmt -check and validate every shipped image's generated template
	@rm -rf _build/templates && $(BIN)/cisecs generate -o _build/templates
	@for d in _build/templates/*/; do \
		echo "validate-templates: $$d"; \
		$(BIN)/packer init $$d >/dev/null && $(BIN)/packer fmt -check $$d && $(BIN)/packer validate $$d || exit 1; \
	done

.PHONY: e2e
e2e: plugins ## a real packer build with provisioner "cisecs" against the host twin (root)
	$(PROGRESS) e2e $(GO) test -count=1 -run 'TestPackerBuildE2E' -v ./provisioner/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|_test.go:[0-9]+: |^\s+(Error|error)'

.PHONY: rehearse
rehearse: plugins ## a real packer build of every shipped image against awssim and a host twin, offline; one verdict line per image (root)
	$(PROGRESS) rehearse $(GO) test -count=1 -timeout 30m -run 'TestRehearse' -v ./builder/ | grep --line-buffered -E '^(=== RUN|--- |PASS|FAIL|ok|rehearse: )|_test.go:[0-9]+: |^\s+(Error|error)'

.PHONY: test
test: prereqs lint check-generate validate-templates ## everything CI runs: prerequisites, lint, generated files, templates, all tests (twin tests need root)
	@echo "test: go test ./... (the twin packages take minutes each; a package prints its result when it ends)"
	@$(PROGRESS) test $(GO) test -count=1 ./...

# make bench BENCH=Scenario runs only the benchmarks that match.
BENCH ?= .
.PHONY: bench
bench: plugins ## the speed and size budgets: each figure beside its budget; fails when one is over (root)
	@mkdir -p _build
	@echo "bench: go test -bench '$(BENCH)' ./... (all of them: about 8 minutes, every twin scenario 3 times)"
	@$(PROGRESS) bench $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 3x ./... | tee _build/bench.txt; rc=$$?; \
		echo; echo "budgets (_build/bench.txt has every figure):"; grep -h '^budget: ' _build/bench.txt; \
		[ $$rc -eq 0 ] || echo "bench: FAILED: a benchmark failed or a figure is over its budget (OVER above)"; exit $$rc
