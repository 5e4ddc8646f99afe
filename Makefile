# The targets CI and developers run. `make test` is the README's test
# command, which .ci/run runs on a clean clone.

GO       ?= go
FUZZTIME ?= 30s
DURATION ?= 30m
BENCH    ?= .
COUNT    ?= 6

.PHONY: test race short lint fuzz bench compare compare-1m compare-300k compare-10m compare-cluster crash soak proto

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

compare: ## dkv against Pebble, goleveldb, Badger and RocksDB: the standard set, one run after the other, even under make -j (bench/README.md)
	$(MAKE) compare-1m
	$(MAKE) compare-300k
	$(MAKE) compare-10m

compare-1m: ## every workload, every engine, 1M keys: bench/results
	cd bench && $(GO) run . -preset 1m

compare-300k: ## 300k keys in the memtables, readwhilewriting's writer at 20k/s: bench/results/300k
	cd bench && $(GO) run . -preset 300k

compare-10m: ## 10M keys by fillrandom, then 1M reads, without Badger: bench/results/10m
	cd bench && $(GO) run . -preset 10m

compare-cluster: ## three dkv nodes and three etcd members on 127.0.0.1, put/get/mix at 1, 16 and 64 clients, side by side (about 6 minutes): bench/results/cluster
	cd bench && $(GO) run ./cluster

crash: ## a long run of the crash-recovery model tests alone
	DKV_CRASH_SEEDS=2000 DKV_CRASH_POINTS=100000 $(GO) test -tags invariants -run '^TestCrash' -count=1 -timeout 60m .

soak: ## every randomized reliability suite, new seeds each round, for DURATION (scripts/soak.sh)
	scripts/soak.sh $(DURATION)

proto: ## regenerate cluster/kvpb from its .proto (needs protoc: apt-get install protobuf-compiler)
	GOBIN=$(CURDIR)/.bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(CURDIR)/.bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
	# --proto_path=. registers the file as cluster/kvpb/kv.proto, a name no
	# other module's kv.proto (etcd's mvccpb has one) collides with.
	PATH=$(CURDIR)/.bin:$$PATH protoc --proto_path=. --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative cluster/kvpb/kv.proto
