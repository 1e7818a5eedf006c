# tillbox — see README.md.
SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tillbox/tillbox/agent/version.stamp=$(VERSION)
BIN     := bin

.PHONY: all demo build test lint bench deps fuzz clean hil

all: build

## demo: the agent with the embedded simulator, the POS API and a virtual scanner (stdin)
demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/tillbox demo

## build: the tillbox binary for this machine, in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tillbox ./cmd/tillbox

## deps: install (as root) or name what the test suite needs
deps:
	@scripts/ensure-deps.sh

## lint: gofmt, go vet, staticcheck, go mod tidy without a diff
lint: deps
	@echo "== gofmt"; out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@echo "== go vet"; $(GO) vet ./...
	@echo "== staticcheck"; $(GO) tool staticcheck ./...
	@echo "== go mod tidy"; $(GO) mod tidy -diff || { echo "go mod tidy would change go.mod/go.sum (diff above)"; exit 1; }

## test: every check and the whole test suite with the race detector
test: lint
	@echo "== go test -race (gotestsum prints the count at the end)"
	$(GO) tool gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg -- -race -count=1 -timeout 20m ./...

## hil: only the hardware-in-the-loop test (an emulated arm64 box with USB scanners; see README)
hil: deps
	$(GO) test -count=1 -v -timeout 20m ./scripts/hil/

## bench: benchmarks of the client against the simulator on loopback
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
