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

.PHONY: help build test unit vet check cross test-arm test-vm package demo bench bench-scale bench-live bench-tftp fuzz soak test-web

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
	@git status --porcelain >"$$(git rev-parse --git-dir)/ftptap-test-before"
	@$(MAKE) --no-print-directory vet unit test-arm
	@$(MAKE) --no-print-directory check CHECK_PLATFORMS="$(TEST_PLATFORMS)"
	@$(GO) mod tidy -diff >/dev/null || (echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1)
	@git status --porcelain | diff -u "$$(git rev-parse --git-dir)/ftptap-test-before" - || (echo "the tests changed the tree"; exit 1)

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

test-vm: ## ftptap on emulated Raspberry Pis and ARM kernels under QEMU: rings, transfers, GPIO LEDs; the .deb under systemd (root; docs/vm.md)
	GOOS=linux GOARCH=arm64 $(GO) vet -tags vmguest ./cross/vm
	GOOS=linux GOARCH=arm GOARM=6 $(GO) vet -tags vmguest ./cross/vm
	GOOS=linux GOARCH=amd64 $(GO) vet -tags vmsystemd ./cross/vm
	cross/vm/run.sh $(VM_GUESTS)

package: cross ## Debian packages for arm64, armhf and amd64 into dist/ (nfpm)
	VERSION=$(VERSION) OUT=$(DIST) cross/package.sh arm64 armhf amd64

test-web: ## the page in headless Chromium only, screenshots into the directory FTPTAP_ARTIFACTS names (default: a temporary one)
	$(GO) test -count=1 -v -run 'TestBrowser' ./web

bench: ## benchmarks with figures; ftptap replay against tcpdump and tshark on generated captures (docs/performance.md)
	$(GO) test -run='^$$' -bench=. -benchmem ./event ./decode ./pipeline ./tap ./leds ./natsbus ./web ./tftpstate
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./ftpstate -mem.sessions=100000
	$(GO) test -run='^$$' -bench=BenchmarkSummaryMillion -benchtime=1x ./firmware
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 60m ./internal/perf -perf

bench-scale: ## the scaling table: replay at 1x, 10x, 100x the mixed capture, 1k/10k/100k open sessions (needs 15 GB in /tmp)
	$(GO) test -run='^$$' -bench='Mixed|IdleReplay' -benchtime=1x -timeout 120m ./internal/perf -perf \
		-perf.scales=1,10,100 -perf.sessions=1000,10000,100000 -perf.runs=1 -perf.drop-large

FUZZTIME ?= 20s
FUZZ := $(GO) test -run='^$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s

fuzz: ## a bounded run (FUZZTIME each, about 3 min in all) of every fuzz target; crashers land in testdata/fuzz
	$(FUZZ) -fuzz=FuzzParseReply ./ftpstate
	$(FUZZ) -fuzz=FuzzParseCommand ./ftpstate
	$(FUZZ) -fuzz=FuzzTracker ./ftpstate
	$(FUZZ) -fuzz=FuzzSegments ./ftpstate
	$(FUZZ) -fuzz=FuzzEventJSON ./event
	$(FUZZ) -fuzz=FuzzDecode ./decode
	$(FUZZ) -fuzz=FuzzDecodeUDP ./decode
	$(FUZZ) -fuzz=FuzzFastTCP ./decode
	$(FUZZ) -fuzz=FuzzCaptureFile ./tap
	$(FUZZ) -fuzz=FuzzSpoolSegment ./natsbus
	$(FUZZ) -fuzz=FuzzConfig ./firmware
	$(FUZZ) -fuzz=FuzzParse ./tftpstate
	$(FUZZ) -fuzz=FuzzTracker ./tftpstate

soak: ## the lab captures replayed 3,000 times, time-shifted and clock-stepped, into the embedded NATS server: heap, goroutines, open files
	$(GO) test -run='^$$' -bench=BenchmarkSoak -benchtime=3000x -timeout 60m ./pipeline

demo: build ## ftptap inline on live FTP traffic in a lab of network namespaces (root)
	BIN=$(BIN) ./lab/demo.sh

# make bench-live STORM_TIME=3s: a quick look at the session storm.
STORM_RATE ?= 1000
STORM_TIME ?= 30s
# make bench-live RING_MIB=32: ftptap's capture.ring_mib in the heavy runs (0: its default, 16).
RING_MIB ?= 0

bench-live: ## live capture under iperf3 load: packets, kernel drops, command-channel events lost (root)
	$(GO) test -run='^$$' -bench=BenchmarkLiveLoad -benchtime=5x -timeout 30m ./internal/lab -load=20s
	$(GO) test -run='^$$' -bench='BenchmarkLive(Downloads|Storm)' -benchtime=1x -timeout 30m ./internal/lab -live-heavy \
		-load=20s -downloads=50 -storm-rate=$(STORM_RATE) -storm-time=$(STORM_TIME) -ring-mib=$(RING_MIB)
	@# The 50 downloads carved, ftptap's CPU weight 10 times the lab's as ftptap.service's CPUWeight=1000
	@# (docs/performance.md, Carving 50 downloads).
	$(GO) test -run='^$$' -bench='BenchmarkLiveDownloads' -benchtime=1x -timeout 30m ./internal/lab -live-heavy \
		-load=20s -downloads=50 -carve -cgroup -ring-mib=$(RING_MIB)

bench-tftp: ## live TFTP under iperf3 -u load: datagrams of load, frames the kernel filter passed, transfers lost (root)
	$(GO) test -run='^$$' -bench=BenchmarkTFTPUnderUDPLoad -benchtime=5x -timeout 10m ./internal/lab -load=10s
