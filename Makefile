# tillbox — see README.md.
SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The commit's date, not the clock's: the same commit builds the same binary.
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)
VPKG    := github.com/tillbox/tillbox/agent/version
LDFLAGS := -s -w -X $(VPKG).stamp=$(VERSION) -X $(VPKG).commit=$(COMMIT) -X $(VPKG).date=$(DATE)
BIN     := bin
DIST    := dist

.PHONY: all demo demo-chain build build-arm64 build-armv7 check-static release check-release check-systemd check-rules check-install test lint bench deps fuzz clean hil soak-chain

all: build

## demo: the agent with the embedded simulator, the POS API and a virtual scanner (stdin)
demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/tillbox demo

## demo-chain: a chain on this machine: headquarters, an embedded NATS server, PostgreSQL in a temporary folder, three boxes (tillbox-hq demo)
demo-chain:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tillbox ./cmd/tillbox
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tillbox-hq ./cmd/tillbox-hq
	$(BIN)/tillbox-hq demo

# A static binary with cgo: github.com/karalabe/usb (USB HID scanners) is C
# (hidapi + libusb, bundled). The tags keep glibc's NSS out of the static
# link; karalabe/usb adds -lrt itself. Without cgo the HID driver is a stub
# and the binary says so (tillbox devices, tillbox run).
STATIC := CGO_ENABLED=1 $(GO) build -tags netgo,osusergo -trimpath -ldflags '$(LDFLAGS) -linkmode external -extldflags -static'
need_cc = @command -v $(1) >/dev/null 2>&1 || { echo "make: the C compiler $(1) is missing: karalabe/usb (USB HID scanners) needs cgo; apt-get install $(2) (scripts/ensure-deps.sh does it as root)" >&2; exit 1; }

## build: the static tillbox binary for this machine (cgo, USB HID included), and tillbox-hq, in bin/
build:
	$(call need_cc,$${CC:-gcc},gcc)
	$(STATIC) -o $(BIN)/tillbox ./cmd/tillbox
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tillbox-hq ./cmd/tillbox-hq

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

## release: static binaries for linux/amd64, linux/arm64 and linux/armv7 in dist/, with SHA256SUMS
release:
	$(call need_cc,gcc,gcc)
	$(call need_cc,aarch64-linux-gnu-gcc,gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
	$(call need_cc,arm-linux-gnueabihf-gcc,gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
	rm -rf $(DIST) && mkdir -p $(DIST)
	GOARCH=amd64 CC=gcc $(STATIC) -o $(DIST)/tillbox-linux-amd64 ./cmd/tillbox
	GOARCH=arm64 CC=aarch64-linux-gnu-gcc $(STATIC) -o $(DIST)/tillbox-linux-arm64 ./cmd/tillbox
	GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc $(STATIC) -o $(DIST)/tillbox-linux-armv7 ./cmd/tillbox
	cd $(DIST) && sha256sum tillbox-linux-* > SHA256SUMS

## check-release: make release; each binary matches SHA256SUMS, is static, and starts (arm under qemu-user)
check-release: release
	@echo "== release binaries"; cd $(DIST) && sha256sum --quiet -c SHA256SUMS
	@set -e; for t in amd64: arm64:qemu-aarch64-static armv7:qemu-arm-static; do \
	  arch=$${t%%:*}; emu=$${t#*:}; b=$(DIST)/tillbox-linux-$$arch; \
	  info=$$(file -b $$b); \
	  case "$$info" in *"statically linked"*) ;; *) echo "$$b is not statically linked: $$info" >&2; exit 1 ;; esac; \
	  if readelf -l $$b | grep -q INTERP; then echo "$$b asks for an ELF interpreter" >&2; exit 1; fi; \
	  out=$$($$emu $$b version) || { echo "$$b does not start$${emu:+ under $$emu}" >&2; exit 1; }; \
	  want="tillbox $(VERSION)"; [ "$$(head -1 <<<"$$out")" = "$$want" ] || { echo "$$b version: $$out" >&2; exit 1; }; \
	  grep -qx "commit $(COMMIT)" <<<"$$out" && grep -q '^dep go.etcd.io/bbolt ' <<<"$$out" || { echo "$$b version lacks the commit or the dependencies:" >&2; echo "$$out" >&2; exit 1; }; \
	  echo "$$b: $$(stat -c %s $$b) bytes, static, starts$${emu:+ under $$emu}"; \
	done

## check-systemd: scripts/systemd/tillbox.service passes systemd-analyze verify without a word (its ExecStart pointed at bin/tillbox)
check-systemd: build
	@echo "== systemd unit"; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	  sed 's|^ExecStart=/usr/local/bin/tillbox |ExecStart=$(CURDIR)/$(BIN)/tillbox |' scripts/systemd/tillbox.service > "$$d/tillbox.service"; \
	  grep -q '^ExecStart=$(CURDIR)/' "$$d/tillbox.service" || { echo "tillbox.service: ExecStart is not /usr/local/bin/tillbox ..." >&2; exit 1; }; \
	  out=$$(systemd-analyze verify "$$d/tillbox.service" 2>&1) && [ -z "$$out" ] || { echo "$$out" >&2; echo "systemd-analyze verify: tillbox.service has problems" >&2; exit 1; }; \
	  echo "tillbox.service: verified"

## check-rules: the Prometheus rules for headquarters (docs/prometheus) parse and pass their unit tests (promtool;
## also run by go test in cmd/tillbox-hq/internal/alerts)
check-rules: deps
	@echo "== promtool"; cd docs/prometheus && promtool check rules tillbox-hq.rules.yml && promtool test rules tillbox-hq.rules.test.yml

## check-install: only the install test: scripts/install.sh and uninstall.sh in a debootstrapped Debian root (as root;
## part of make test's go test; TILLBOX_ROOTFS_CACHE=DIR keeps the root between runs)
check-install: deps
	$(GO) test -count=1 -v -timeout 10m ./scripts/installtest/

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
test: lint check-static check-release check-systemd check-rules
	@echo "== go test -race (gotestsum prints the count at the end)"
	$(GO) tool gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg -- -race -count=1 -timeout 20m ./...

## soak-chain: the chain test (TestChain, docs/chain.md "Proof") for DURATION of sales under chaos (default 1h);
## SEED=N replays a run's faults, BOXES=N changes the number of boxes (default 20)
DURATION ?= 1h
soak-chain: deps
	$(GO) test -count=1 -v -run '^TestChain$$' -timeout 0 ./cmd/tillbox-hq/ -chain.duration=$(DURATION) \
	  $(if $(SEED),-chain.seed=$(SEED)) $(if $(BOXES),-chain.boxes=$(BOXES))

## hil: only the hardware-in-the-loop test (an emulated arm64 box with USB scanners; see docs/development.md)
hil: deps
	$(GO) test -count=1 -v -timeout 20m ./scripts/hil/

## bench: benchmarks of the client against the simulator on loopback
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s); a new input is minimized for at most
## FUZZMINIMIZE (the journal's 4 KiB records made the default minute-long pauses)
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 5s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN) $(DIST)
