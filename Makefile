# ftptap. "make help" lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/ftptap

.PHONY: help build test unit vet check demo bench fuzz

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/ftptap for this machine
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./firmware

vet: ## go vet
	$(GO) vet ./...

unit: ## the Go tests with the race detector, benchmarks once so they keep compiling
	$(GO) test -race -count=1 -timeout 20m -bench=. -benchtime=1x ./...

test: vet unit ## everything CI runs
	@git diff --exit-code --stat -- go.mod go.sum || (echo "go.mod/go.sum not tidy"; exit 1)

bench: ## benchmarks with figures
	$(GO) test -run='^$$' -bench=. -benchmem ./ftpstate ./decode ./pipeline ./leds

fuzz: ## a short run of each fuzz target
	$(GO) test -run='^$$' -fuzz=FuzzParseReply -fuzztime=20s ./ftpstate
	$(GO) test -run='^$$' -fuzz=FuzzParseCommand -fuzztime=20s ./ftpstate
	$(GO) test -run='^$$' -fuzz=FuzzTracker -fuzztime=30s ./ftpstate

demo: build ## replay the sample captures with --summary
	$(BIN) replay --summary --tap demo ftpstate/testdata/*.pcap* 2>&1 | head -100
