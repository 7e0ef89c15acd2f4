# Makefile - builds, tests and runs the FHIR R4 Task server.
#
# Read top to bottom: settings, Debian packages, per-module source lists
# (explicit, no wildcards), then rules. `make help` lists the targets.

# ---- settings ---------------------------------------------------------
BUILD    ?= build
CC       ?= cc
PORT     ?= 8080
DB       ?= var/fhir.db
SANITIZE ?=

CSTD     = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
           -Wvla -Wno-format-nonliteral
OPT     ?= -O2 -g
PKGS     = sqlite3 libcurl libcjson cmocka
CPPFLAGS = -I. -MMD -MP
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = -lcivetweb $(shell pkg-config --libs sqlite3 libcjson 2>/dev/null) \
           -lpthread -lm
TESTLIBS = $(shell pkg-config --libs cmocka libcurl 2>/dev/null)

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# The server (and the bench's limits, which stand for it) allocate with
# jemalloc: cJSON makes and frees a node per JSON value, and glibc's
# malloc spent more than half of parsing and writing a 1.3 MB Bundle
# (see README). Sanitizer builds keep their own allocator; MALLOC_LIBS=
# builds with glibc's.
ifeq ($(SANITIZE),)
MALLOC_LIBS ?= -ljemalloc
endif

# ---- Debian packages --------------------------------------------------
DEB_PKGS = gcc make pkg-config libcivetweb-dev libcjson-dev libsqlite3-dev \
           libcurl4-openssl-dev libcmocka-dev libjemalloc-dev sqlite3 clang

# ---- sources ----------------------------------------------------------
FHIR_SRC     = fhir/err.c fhir/mem.c fhir/json.c fhir/types.c fhir/time.c \
               fhir/build.c fhir/text.c fhir/fhirpath.c fhir/patch.c
PROFILES_SRC = profiles/profiles.c
SEARCH_SRC   = search/query.c search/registry.c search/index.c search/plan.c search/hot.c \
               search/match.c search/include.c search/compartment.c
STORE_SRC    = store/store.c store/history.c store/index.c store/query.c \
               store/hot.c store/pending.c store/checkpoint.c store/group.c
SERVER_SRC   = server/config.c server/server.c server/http.c server/rest.c \
               server/capability.c server/load.c server/index.c \
               server/search.c server/bundle.c server/include.c \
               server/compartment.c server/deadline.c
MAIN_SRC     = server/main.c

LIB_SRC  = $(FHIR_SRC) $(PROFILES_SRC) $(SEARCH_SRC) $(STORE_SRC) $(SERVER_SRC)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      = $(BUILD)/libfhirsrv.a
SERVER   = $(BUILD)/fhir-server

UNIT_TESTS = tests/unit/test_fhir_json tests/unit/test_fhir_misc tests/unit/test_store_hot \
             tests/unit/test_store tests/unit/test_profiles \
             tests/unit/test_search_query tests/unit/test_fhir_text \
             tests/unit/test_fhir_path tests/unit/test_search_index \
             tests/unit/test_search_plan tests/unit/test_fhir_patch
HTTP_TESTS = tests/http/test_http_rest tests/http/test_http_cases \
             tests/http/test_http_search tests/http/test_http_exchange \
             tests/http/test_http_include tests/http/test_http_follow \
             tests/http/test_http_compartment \
             tests/http/test_http_process tests/http/test_http_hostile
TEST_SUPPORT = tests/http/harness.c
TEST_BINS  = $(UNIT_TESTS:%=$(BUILD)/%) $(HTTP_TESTS:%=$(BUILD)/%)
BENCH_BIN  = $(BUILD)/bench/loadgen $(BUILD)/bench/gen $(BUILD)/bench/ingest \
             $(LIMIT_BIN) $(BUILD)/bench/search_sql
LIMIT_BIN  = $(BUILD)/bench/limit_sql $(BUILD)/bench/limit_http \
             $(BUILD)/bench/loadgen
BENCH_UTIL = $(BUILD)/obj/bench/bench_util.o
CLINIC     = $(BUILD)/obj/bench/clinic.o
BENCH_TASKS ?= 100000
CRASH_BIN  = $(BUILD)/tests/crash/crash
CRASH_CYCLES ?= 50
CRASH_DURABILITY ?=

# Fuzz targets (tests/fuzz/fuzz_<name>.c). Each is built twice: with clang
# and libFuzzer under `make fuzz` (in $(FUZZ_BUILD)), and with $(CC) and
# tests/fuzz/replay.c so that `make test` replays tests/fuzz/corpus/<name>/.
FUZZ_TARGETS = date ref resource patch search bundle
FUZZ_SUPPORT = tests/fuzz/fuzz_util.c
FUZZ_REPLAY  = $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_BUILD   = build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_RSS_MB  ?= 2048

PUBLIC_HEADERS = fhir/fhir.h profiles/profiles.h search/search.h \
                 store/store.h server/server.h

# Keep test objects between runs (they are intermediates of pattern rules).
.SECONDARY:

.PHONY: all deps run test check check-asan check-valgrind check-headers \
        crash-test fuzz fuzz-run bench bench-limits bench-ingest format \
        format-check lint clean help
all: $(SERVER)

help:
	@echo "make            build $(SERVER)"
	@echo "make deps       install the Debian packages (apt-get as root)"
	@echo "make run        deps, build, serve http://127.0.0.1:$(PORT)/fhir on $(DB)"
	@echo "make test       deps, build, run every unit and HTTP test"
	@echo "make check-asan run the suite under ASan+UBSan (build/asan)"
	@echo "make check-valgrind run the suite under valgrind memcheck"
	@echo "make crash-test kill -9 under a write load, restart, check; CRASH_CYCLES"
	@echo "                (default 50), CRASH_DURABILITY=normal"
	@echo "make fuzz       libFuzzer (clang, ASan+UBSan) on each target in turn for"
	@echo "                FUZZ_SECONDS (default 60); new inputs go to $(FUZZ_BUILD)/corpus/"
	@echo "make bench      server figures next to limits measured in the same run"
	@echo "                (raw SQLite, CivetWeb, best-order SQL): creates/s, reads/s,"
	@echo "                updates/s, ingest, search p50/p99 on BENCH_TASKS Tasks"
	@echo "                (default 100000), peak RSS, disk; one table + JSON"
	@echo "make bench-limits  the limits alone (raw SQLite, CivetWeb)"
	@echo "make bench-ingest  transaction Bundles vs single POSTs, resources/s"
	@echo "make format | format-check | lint | check-headers | clean"
	@echo "knobs: PORT DB BUILD SANITIZE OPT CRASH_CYCLES CRASH_DURABILITY"
	@echo "       BENCH_TASKS BENCH_SECONDS BENCH_CONNS BENCH_DURABILITY"
	@echo "       FUZZ_SECONDS FUZZ_RSS_MB"

# ---- rules ------------------------------------------------------------
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	    || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
	  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q $$missing; }; \
	else \
	  echo "missing Debian packages; run: sudo apt-get install -y$$missing"; \
	  exit 1; fi

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SERVER): $(BUILD)/obj/server/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TESTLIBS)

$(BUILD)/tests/http/%: $(BUILD)/obj/tests/http/%.o \
                       $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TESTLIBS)

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o \
                              $(BUILD)/obj/tests/fuzz/replay.o \
                              $(FUZZ_SUPPORT:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Only under `make fuzz` (CC=clang, SANITIZE=fuzzer-no-link,...).
$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o \
                            $(FUZZ_SUPPORT:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(CRASH_BIN): $(BUILD)/obj/tests/crash/crash.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libcurl sqlite3 libcjson \
	  2>/dev/null) -lpthread

$(BUILD)/bench/loadgen: $(BUILD)/obj/bench/loadgen.o $(BENCH_UTIL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TESTLIBS) -lpthread

$(BUILD)/bench/ingest: $(BUILD)/obj/bench/ingest.o $(CLINIC) $(BENCH_UTIL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TESTLIBS) -lpthread

$(BUILD)/bench/gen: $(BUILD)/obj/bench/gen.o $(CLINIC) $(BENCH_UTIL) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/limit_sql: $(BUILD)/obj/bench/limit_sql.o $(CLINIC) $(BENCH_UTIL) \
                          $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

$(BUILD)/bench/limit_http: $(BUILD)/obj/bench/limit_http.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

$(BUILD)/bench/search_sql: $(BUILD)/obj/bench/search_sql.o $(BENCH_UTIL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

run: deps $(SERVER)
	@mkdir -p $(dir $(DB))
	$(SERVER) --port $(PORT) --db $(DB) --load examples/clinic.json

# Tests find the server binary and the repository through these.
TEST_ENV = FHIR_TEST_SERVER=$(abspath $(SERVER)) FHIR_TEST_ROOT=$(CURDIR)

test: deps $(SERVER) $(TEST_BINS) $(FUZZ_REPLAY)
	@set -e; for t in $(TEST_BINS); do \
	  echo "== $$t"; $(TEST_ENV) $$t; done; \
	echo "== $(BUILD)/tests/http/test_http_search (SQL only, --no-hot)"; \
	FHIR_TEST_NO_HOT=1 $(TEST_ENV) $(BUILD)/tests/http/test_http_search; \
	for t in $(FUZZ_TARGETS); do \
	  echo "== $(BUILD)/tests/fuzz/replay_$$t tests/fuzz/corpus/$$t"; \
	  $(TEST_ENV) $(BUILD)/tests/fuzz/replay_$$t tests/fuzz/corpus/$$t; done; \
	echo "all tests passed"

check: test

# Not part of `make test`: about a second per cycle.
crash-test: deps $(SERVER) $(CRASH_BIN)
	CRASH_CYCLES=$(CRASH_CYCLES) CRASH_DURABILITY=$(CRASH_DURABILITY) \
	  $(TEST_ENV) $(CRASH_BIN)

# Not part of `make test`: each target for FUZZ_SECONDS, one at a time.
# The committed corpus (tests/fuzz/corpus/<name>/) seeds the run and is
# never written; new inputs go to $(FUZZ_BUILD)/corpus/<name>/ and crashes
# to $(FUZZ_BUILD)/artifacts/<name>/ (copy one to the committed corpus as
# regress-<what> once fixed).
fuzz: deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g" \
	  SANITIZE=fuzzer-no-link,address,undefined fuzz-run

fuzz-run: $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/corpus/$$t $(BUILD)/artifacts/$$t; \
	  case $$t in resource|patch|bundle) d=json;; *) d=$$t;; esac; \
	  dict=; if [ -f tests/fuzz/dict/$$d.dict ]; then \
	    dict=-dict=tests/fuzz/dict/$$d.dict; fi; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  $(TEST_ENV) $(BUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=$(FUZZ_RSS_MB) -timeout=30 -print_final_stats=1 $$dict \
	    -artifact_prefix=$(BUILD)/artifacts/$$t/ \
	    $(BUILD)/corpus/$$t tests/fuzz/corpus/$$t; done

check-asan:
	$(MAKE) BUILD=build/asan SANITIZE=address,undefined OPT="-O1 -g" test

# Every unit and HTTP test binary under memcheck (the HTTP tests run the
# server in-process, so it is checked with them), and every fhir-server the
# process tests start (FHIR_TEST_WRAPPER): one log per process in
# $(VG_LOGS), empty unless valgrind found an error or a definite leak.
# Forked children stay silent (they would report the parent's heap). About
# 5-6 minutes on 2 cores. No suppressions are needed.
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
           --show-leak-kinds=definite --errors-for-leak-kinds=definite \
           --num-callers=30 --child-silent-after-fork=yes \
           --soname-synonyms=somalloc=*jemalloc*
VG_LOGS  = $(abspath $(BUILD))/valgrind
check-valgrind: deps $(SERVER) $(TEST_BINS)
	@$(MAKE) --no-print-directory deps DEB_PKGS=valgrind
	@rm -rf $(VG_LOGS); mkdir -p $(VG_LOGS); rc=0; start=$$(date +%s); \
	run() { t=$$1; log=$$2; shift 2; echo "== $$t $$*"; \
	  env $(TEST_ENV) \
	    FHIR_TEST_WRAPPER="$(VALGRIND) --log-file=$(VG_LOGS)/server-%p.log" \
	    "$$@" $(VALGRIND) --log-file=$(VG_LOGS)/$$log-%p.log \
	    $(BUILD)/$$t >$(VG_LOGS)/$$log.out 2>&1 \
	  || { rc=1; tail -20 $(VG_LOGS)/$$log.out; }; }; \
	for t in $(UNIT_TESTS) $(HTTP_TESTS); do run $$t $$(basename $$t); done; \
	run tests/http/test_http_search test_http_search-no-hot FHIR_TEST_NO_HOT=1; \
	for f in $(VG_LOGS)/*.log; do \
	  if [ -s $$f ]; then rc=1; echo "-- $$f"; cat $$f; fi; done; \
	echo "valgrind run: $$(( $$(date +%s) - start )) s"; \
	if [ $$rc = 0 ]; then echo "valgrind: no errors, no definite leaks"; \
	else echo "valgrind: failures above (logs in $(VG_LOGS))"; exit 1; fi

check-headers:
	@set -e; for h in $(PUBLIC_HEADERS); do \
	  echo '#include "'$$h'"' | $(CC) $(CPPFLAGS) $(CFLAGS) -x c -c - -o /dev/null; \
	done; echo "headers ok"

# The summary table and JSON: bench/run.sh (phases limits, server,
# ingest, search); bench-limits runs the limits alone (about a minute).
bench: deps $(SERVER) $(BENCH_BIN)
	@mkdir -p bench/results
	BENCH_TASKS=$(BENCH_TASKS) bench/run.sh $(abspath $(SERVER)) \
	  $(abspath $(BUILD)/bench)

bench-limits: deps $(LIMIT_BIN)
	@mkdir -p bench/results
	BENCH_PHASES=limits bench/run.sh $(abspath $(SERVER)) \
	  $(abspath $(BUILD)/bench)

bench-ingest: deps $(SERVER) $(BUILD)/bench/ingest
	@mkdir -p bench/results
	bench/ingest.sh $(abspath $(SERVER)) $(abspath $(BUILD)/bench/ingest)

FORMAT_FILES = $(LIB_SRC) $(MAIN_SRC) $(PUBLIC_HEADERS) \
               $(wildcard */*_int.h tests/unit/*.c tests/http/*.c tests/http/*.h tests/crash/*.c bench/*.c bench/*.h \
                          tests/fuzz/*.c tests/fuzz/*.h)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

lint:
	@! grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets)\(' \
	  $(LIB_SRC) $(MAIN_SRC) || { echo "lint: banned function"; exit 1; }
	@echo "lint ok"

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
