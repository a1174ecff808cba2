# Dowser: `make demo` runs the product on an embedded Kafka broker and a
# private PostgreSQL; `make test` runs every test. Both set up what they need.

GO       ?= go
BIN      := bin/dowser
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DATA     := .data
HTTP     ?= 127.0.0.1:8080

# The private PostgreSQL's URL, unless the caller brought their own.
PGURL = $(if $(DATABASE_URL),$(DATABASE_URL),$(shell scripts/postgres.sh start | tail -n 1))

FUZZTIME ?= 10s

.PHONY: all build demo test deploy-check bench bench-go fuzz chaos vet fmt-check pg pg-stop clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dowser

## demo: build, start the private PostgreSQL, run `dowser demo` (embedded
## broker persisted under .data/kafka) and print the panel URL and tokens.
demo: build
	@url="$(PGURL)"; test -n "$$url" || { echo "could not start PostgreSQL" >&2; exit 1; }; \
	exec $(BIN) demo --database-url "$$url" --embedded-kafka-dir $(DATA)/kafka --http $(HTTP) --log-format text

## test: every test, against the private PostgreSQL (or DATABASE_URL) and
## Debian's Chromium (installed when missing).
test: vet fmt-check
	@url="$(PGURL)"; test -n "$$url" || { echo "could not start PostgreSQL" >&2; exit 1; }; \
	browser=$$(scripts/chromium.sh) || exit 1; \
	DATABASE_URL="$$url" DOWSER_REQUIRE_DB=1 DOWSER_CHROMIUM="$$browser" DOWSER_REQUIRE_BROWSER=1 \
		$(GO) test -race -shuffle=on -count=1 -timeout 25m ./...
	@$(MAKE) --no-print-directory deploy-check
	@$(MAKE) --no-print-directory fuzz

## deploy-check: the files under deploy/ read by the parsers of the systems
## that read them (Kubernetes API types, Helm, Prometheus rules and PromQL,
## the Compose loader). deploy/validate is a Go module of its own so that
## those libraries (about 90 modules, 400 packages) stay out of the
## product's go.mod and build. No -race: its tests start no goroutines of
## their own, and the race build costs about 15% more CPU on a cold cache.
deploy-check:
	cd deploy/validate && $(GO) vet ./... && $(GO) test -shuffle=on -count=1 -timeout 10m ./...

## bench: the Go micro-benchmarks of the hot paths (bench-go), then
## `dowser bench` against the private PostgreSQL (or DATABASE_URL) for the
## end-to-end run; BENCHFLAGS adds flags to the latter, e.g. --json; then
## the identity-resolution stage's cost (per event, and events/s through
## resolve + detect beside detect alone). See docs/benchmarks.md.
bench: build bench-go
	@url="$(PGURL)"; test -n "$$url" || echo "could not start PostgreSQL: no end-to-end run" >&2; \
	DATABASE_URL="$$url" $(BIN) bench $(BENCHFLAGS)
	@url="$(PGURL)"; test -n "$$url" || exit 0; \
	DATABASE_URL="$$url" $(GO) test -run '^$$' -bench BenchmarkHandle ./resolve && \
	DATABASE_URL="$$url" $(GO) test -run '^$$' -bench BenchmarkEndToEndResolution -benchtime 1x ./cmd/dowser

## bench-go: decoding, matching, window updates, checkpoints, the engine
## and the backtest runner, with allocations (about two minutes).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./schema ./detector ./backtest

## fuzz: a short run of every fuzz target (FUZZTIME each); scripts/fuzz.sh
## says why a bare deadline error of Go's fuzz coordinator is no failure.
fuzz:
	GO=$(GO) scripts/fuzz.sh ./schema FuzzParseEvent $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh ./schema/internal/jsonscan FuzzScanner $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh ./detector FuzzParseSignal $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh ./detector FuzzEngine $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh ./notify FuzzClientFrame $(FUZZTIME)
	GO=$(GO) scripts/fuzz.sh ./formats FuzzConvert $(FUZZTIME)

## chaos: the fault tests (crash, two instances, PostgreSQL outage,
## SIGTERM) five times over, then the crash test with a large state
## (kills during checkpoint writes) once at 1,000,000 subjects: one run
## of it takes about 3 minutes on 2 cores with incremental checkpoints,
## and cannot catch up at all with whole-state ones. `make test` runs each
## once, the large state at 150,000 subjects. CHAOS_SUBJECTS sets the size.
CHAOS_SUBJECTS ?= 1000000
## The full output goes to a temporary file, so that a failure fails the
## target although only the summary lines are shown.
chaos:
	@url="$(PGURL)"; out=$$(mktemp); \
	DATABASE_URL="$$url" DOWSER_REQUIRE_DB=1 $(GO) test -count=5 -timeout 90m -run '^TestChaos' -skip '^TestChaosLargeState' -v ./cmd/dowser 2>&1 | tee $$out | grep -E '^(---|ok|FAIL)|events [0-9]+,'; \
	DATABASE_URL="$$url" DOWSER_REQUIRE_DB=1 DOWSER_CHAOS_SUBJECTS=$(CHAOS_SUBJECTS) $(GO) test -count=1 -timeout 90m -run '^TestChaosLargeState' -v ./cmd/dowser 2>&1 | tee -a $$out | grep -E '^(---|ok|FAIL)|events [0-9]+,|subjects of state|checkpoint write|restored'; \
	if grep -q '^FAIL' $$out; then echo "chaos failed; full output in $$out" >&2; exit 1; fi; rm -f $$out

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

pg:
	@scripts/postgres.sh start

pg-stop:
	@scripts/postgres.sh stop

clean:
	rm -rf bin
