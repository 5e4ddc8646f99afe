# The targets CI and developers run. `make test` is the README's test
# command, which .ci/run runs on a clean clone.

GO       ?= go
FUZZTIME ?= 30s
DURATION ?= 30m
BENCH    ?= .
COUNT    ?= 6

.PHONY: test race short lint fuzz bench compare crash soak

test: ## vet, then every test under the race detector (what CI runs)
	$(GO) vet ./... && $(GO) test -race -tags invariants ./... && scripts/fuzz-all.sh 3s -race -tags invariants && cd bench && $(GO) vet ./... && $(GO) test ./...

race: test

short: ## the quick loop while editing
	$(GO) test -short ./...

lint: ## formatting, vet and staticcheck
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz: ## run every fuzz target for FUZZTIME each (scripts/fuzz-all.sh)
	scripts/fuzz-all.sh $(FUZZTIME)

bench: ## benchmarks, COUNT runs each, for benchstat (bench.txt)
	$(GO) test -run '^$$' -bench '$(BENCH)' -count $(COUNT) . | tee bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench.txt

compare: ## dkv against Pebble, goleveldb, Badger and RocksDB (about 7 minutes)
	cd bench && $(GO) run . -out results

crash: ## a long run of the crash-recovery model tests alone
	DKV_CRASH_SEEDS=2000 DKV_CRASH_POINTS=100000 $(GO) test -tags invariants -run '^TestCrash' -count=1 -timeout 60m .

soak: ## every randomized reliability suite, new seeds each round, for DURATION (scripts/soak.sh)
	scripts/soak.sh $(DURATION)
