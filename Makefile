# memoryd: `make run` builds and serves on 127.0.0.1:8080; `make test` runs every test.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO ?= go
# Packages with goroutines that share state: run again under the race detector.
RACE_PKGS := ./api/... ./store/... ./memory/... ./meter/... ./billing/... ./index/... ./llm/...

.PHONY: build run test lint bench release release-check clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/memoryd .

run: build
	./bin/memoryd serve $(ARGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: lint build
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short $(RACE_PKGS)
	# Short fuzz runs; a crasher is kept in the package's testdata/fuzz and replays in go test.
	# Counted, not timed (about 10 s each here): Go 1.26's fuzz coordinator can fail a
	# timed run with a bare "context deadline exceeded" at its end (golang/go#75804).
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeStrict$$' -fuzztime 25000x ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzValidID$$' -fuzztime 250000x ./store/
	cd sdk/python && MEMORYD_BIN=$(CURDIR)/bin/memoryd python3 -m unittest discover -s tests -t .
	cd sdk/js && MEMORYD_BIN=$(CURDIR)/bin/memoryd npm test

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(or $(BENCH_PKGS),./...)

release:
	VERSION=$(VERSION) GO=$(GO) scripts/release.sh

# Builds the release in a temporary folder, checks the six binaries and their sums,
# and runs the linux/amd64 one with no config against /healthz (slow: not in test).
release-check:
	VERSION=$(VERSION) GO=$(GO) scripts/release_check.sh

clean:
	rm -rf bin dist
