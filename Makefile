# bucketdesk — the two commands a newcomer needs are `make run` and `make test`.
GO       ?= go
DATA_DIR ?= $(CURDIR)/.data
BIN      := bin/bucketdesk
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: run build test test-go test-short test-deps lint bench bench-go fuzz clean reset deps package coldstart soak

deps:
	$(GO) mod download

# dynalite, the local DynamoDB the dynamostore tests run against.
test-deps: deps
	npm ci --prefix tests/dynalite --no-audit --no-fund

build: deps
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/bucketdesk

## run: build and start bucketdesk on its embedded defaults with realistic sandbox durations
run: build
	BUCKETDESK_DATA_DIR="$(DATA_DIR)" ./$(BIN) serve

## test: lint, every Go test with the race detector, then the browser tests
test: lint test-go test-browser

test-go: test-deps
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: test-deps
	$(GO) test -count=1 ./...

## test-cfn: only cfn-lint over deploy/*.yaml and the matrix of rendered stacks, and AWS's name rules over
## the resolved values, printing the matrix size, cfn-lint's version and time, and every finding (informational
## ones too, which `go test ./...` shows only on failure); the full log is in test-output/
.PHONY: test-cfn
test-cfn:
	@mkdir -p test-output
	@rc=0; $(GO) test -count=1 -v -run 'CfnLint|MeetAWSRules' ./deploy/ ./internal/stacks/ >test-output/cfn-lint.log 2>&1 || rc=$$?; \
	grep -v -e '^=== RUN' -e '^    --- PASS' -e 'not in the matrix' test-output/cfn-lint.log; exit $$rc

## test-browser: the web UI in Debian's Chromium (playwright-core, no browser download) against the built binary
.PHONY: test-browser
test-browser: build
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	npm ci --prefix tests/browser --no-audit --no-fund
	node --test tests/browser/validate.test.mjs tests/browser/live.test.mjs tests/browser/api.test.mjs tests/browser/table.test.mjs tests/browser/benchdoc.test.mjs tests/browser/edits.test.mjs tests/browser/store.test.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/run.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/details.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/history.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/links.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/admin.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/dialogs.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/heartbeat.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/progress.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/signin.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/scale.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/screens.mjs
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/edits.mjs

## lint: gofmt check and go vet
lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: measure against docs/targets.md (cached vs direct, open-loop load, event to browser beside a raw peer, dynalite,
## bursts of stack events, fan-out on AWS, growth curves) and write docs/benchmarks.md and docs/growth.svg (under 10 minutes)
bench: test-deps
	$(GO) run ./cmd/bucketdesk-bench --out docs/benchmarks.md

## bench-browser: the console's performance budgets in Debian's Chromium (tests/browser/bench.mjs): 1,000 buckets and
## 1,000 users, two managers' pages, 200 changes at ~50 events/s; prints the figures (not part of `make test`).
## BENCH_BROWSER_ARGS="--out docs/benchmarks.md --label after" also writes them into that file's browser section
.PHONY: bench-browser
bench-browser: build
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	npm ci --prefix tests/browser --no-audit --no-fund
	BUCKETDESK_BIN=$(CURDIR)/$(BIN) node tests/browser/bench.mjs $(BENCH_BROWSER_ARGS)

## soak: churn bucket names against a real server (bin/bucketdesk) for 3 minutes and report outcomes, cache vs sandbox and growth; SOAK_FLAGS="--realistic --duration 10m" etc.
soak: build
	$(GO) run ./cmd/bucketdesk-soak --bin $(BIN) $(SOAK_FLAGS)

## bench-go: the Go micro-benchmarks
bench-go: test-deps
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## fuzz: run the notification parser's fuzz target for a minute
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseMessage -fuzztime=60s ./internal/cfnevent/

## reset: delete the local data directory (cache, queue and sandbox)
reset:
	rm -rf "$(DATA_DIR)"

clean:
	rm -rf bin

## package: the Lambda package bin/bucketdesk-lambda.zip (bootstrap, linux/arm64) and the web bundle bin/web/, for deploy/template.yaml
.PHONY: package
package:
	mkdir -p bin/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/lambda/bootstrap ./cmd/bucketdesk-lambda
	$(GO) run ./deploy/zipit -o bin/bucketdesk-lambda.zip bin/lambda/bootstrap
	rm -rf bin/web && mkdir -p bin/web
	cp web/index.html web/*.css web/*.js bin/web/

## coldstart: time the Lambda bootstrap (cmd/bucketdesk-lambda) from process start to its first answered event, on this machine
coldstart: deps
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" -o bin/bootstrap-local ./cmd/bucketdesk-lambda
	$(GO) run ./deploy/coldstart bin/bootstrap-local
