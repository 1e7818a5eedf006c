# tillbox — see README.md.
SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tillbox/tillbox/agent/version.stamp=$(VERSION)
BIN     := bin

.PHONY: all demo build build-arm64 build-armv7 check-static test lint bench deps fuzz clean hil

all: build

## demo: the agent with the embedded simulator, the POS API and a virtual scanner (stdin)
demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/tillbox demo

# A static binary with cgo: github.com/karalabe/usb (USB HID scanners) is C
# (hidapi + libusb, bundled). The tags keep glibc's NSS out of the static
# link; karalabe/usb adds -lrt itself. Without cgo the HID driver is a stub
# and the binary says so (tillbox devices, tillbox run).
STATIC := CGO_ENABLED=1 $(GO) build -tags netgo,osusergo -trimpath -ldflags '$(LDFLAGS) -linkmode external -extldflags -static'
need_cc = @command -v $(1) >/dev/null 2>&1 || { echo "make: the C compiler $(1) is missing: karalabe/usb (USB HID scanners) needs cgo; apt-get install $(2) (scripts/ensure-deps.sh does it as root)" >&2; exit 1; }

## build: the static tillbox binary for this machine (cgo, USB HID included), in bin/
build:
	$(call need_cc,$${CC:-gcc},gcc)
	$(STATIC) -o $(BIN)/tillbox ./cmd/tillbox

## build-arm64, build-armv7: static cross builds for a Raspberry Pi (bin/tillbox-linux-arm64, -armv7)
build-arm64:
	$(call need_cc,aarch64-linux-gnu-gcc,gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
	GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(STATIC) -o $(BIN)/tillbox-linux-arm64 ./cmd/tillbox
build-armv7:
	$(call need_cc,arm-linux-gnueabihf-gcc,gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
	GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc $(STATIC) -o $(BIN)/tillbox-linux-armv7 ./cmd/tillbox

## check-static: make build links, and the binary is static (no ELF interpreter) and runs
check-static: build
	@echo "== static build"; info=$$(file -b $(BIN)/tillbox); echo "$$info"; \
	  case "$$info" in *"statically linked"*) ;; *) echo "$(BIN)/tillbox is not statically linked" >&2; exit 1 ;; esac; \
	  if readelf -l $(BIN)/tillbox | grep -q 'INTERP'; then echo "$(BIN)/tillbox asks for an ELF interpreter" >&2; exit 1; fi; \
	  $(BIN)/tillbox version && $(BIN)/tillbox devices >/dev/null

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

## test: every check, the static build, and the whole test suite with the race detector
test: lint check-static
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
