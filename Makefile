# ftptap. "make help" lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/ftptap
DIST := dist
# Every GOOS/GOARCH the tree must build on, though ftptap runs on Linux only.
CHECK_PLATFORMS := linux/amd64 linux/arm64 linux/arm linux/386 linux/riscv64 \
	darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64 openbsd/amd64
# make test checks one platform of each other OS (linux/arm is built by test-arm).
TEST_PLATFORMS := windows/amd64 darwin/arm64 freebsd/amd64

.PHONY: help build test unit vet check cross test-arm package demo bench bench-live bench-tftp fuzz

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/ftptap for this machine
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./firmware

vet: ## go vet, and gofmt must have nothing to say
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi

unit: ## the Go tests with the race detector, benchmarks once so they keep compiling
	$(GO) test -race -count=1 -timeout 20m -bench=. -benchtime=1x ./...

test: ## everything CI runs: vet, the tests (native and ARM), builds for other OSes, a tree left as found
	@git status --porcelain >.git/ftptap-test-before
	@$(MAKE) --no-print-directory vet unit test-arm
	@$(MAKE) --no-print-directory check CHECK_PLATFORMS="$(TEST_PLATFORMS)"
	@$(GO) mod tidy -diff >/dev/null || (echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1)
	@git status --porcelain | diff -u .git/ftptap-test-before - || (echo "the tests changed the tree"; exit 1)

check: vet ## vet, then vet and build the tree for every GOOS/GOARCH in CHECK_PLATFORMS
	@failed=; for p in $(CHECK_PLATFORMS); do \
		echo "== $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) vet ./... && \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build ./... || failed="$$failed $$p"; \
	done; \
	if [ -n "$$failed" ]; then echo "check: the tree does not build on$$failed" >&2; exit 1; fi

cross: ## static binaries for the Pi (linux arm64, armv7, armv6) and amd64 into dist/, with their sizes
	VERSION=$(VERSION) cross/build.sh $(DIST)

test-arm: ## the unit and replay tests built for arm64 and arm (GOARM=6), run under qemu-user
	cross/test-arm.sh

package: cross ## Debian packages for arm64, armhf and amd64 into dist/ (nfpm)
	VERSION=$(VERSION) OUT=$(DIST) cross/package.sh arm64 armhf amd64

bench: ## benchmarks with figures
	$(GO) test -run='^$$' -bench=. -benchmem ./ftpstate ./tftpstate ./decode ./pipeline ./leds ./natsbus
	$(GO) test -run='^$$' -bench=BenchmarkSummaryMillion -benchtime=1x ./firmware

FUZZTIME ?= 20s
FUZZ := $(GO) test -run='^$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s

fuzz: ## a bounded run (FUZZTIME each, about 3 min in all) of every fuzz target; crashers land in testdata/fuzz
	$(FUZZ) -fuzz=FuzzParseReply ./ftpstate
	$(FUZZ) -fuzz=FuzzParseCommand ./ftpstate
	$(FUZZ) -fuzz=FuzzTracker ./ftpstate
	$(FUZZ) -fuzz=FuzzEventJSON ./ftpstate
	$(FUZZ) -fuzz=FuzzDecode ./decode
	$(FUZZ) -fuzz=FuzzDecodeUDP ./decode
	$(FUZZ) -fuzz=FuzzCaptureFile ./tap
	$(FUZZ) -fuzz=FuzzSpoolSegment ./natsbus
	$(FUZZ) -fuzz=FuzzConfig ./firmware
	$(FUZZ) -fuzz=FuzzParse ./tftpstate
	$(FUZZ) -fuzz=FuzzTracker ./tftpstate

demo: build ## ftptap inline on live FTP traffic in a lab of network namespaces (root)
	BIN=$(BIN) ./lab/demo.sh

bench-live: ## live capture under iperf3 load: packets, kernel drops, command-channel events lost (root)
	$(GO) test -run='^$$' -bench=BenchmarkLiveLoad -benchtime=5x -timeout 30m ./internal/lab -load=20s

bench-tftp: ## live TFTP under iperf3 -u load: datagrams of load, frames the kernel filter passed, transfers lost (root)
	$(GO) test -run='^$$' -bench=BenchmarkTFTPUnderUDPLoad -benchtime=5x -timeout 10m ./internal/lab -load=10s
