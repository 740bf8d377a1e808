# sock: libsock, the `sock` tool, examples, tests and benchmarks.
#
#   make            library (static + shared), tool, examples, test binaries
#   make test       every test: Criterion suite built with ASan+UBSan
#   make demo       build everything and run the step-by-step demo
#   make bench      library vs raw syscalls, sock vs nc/socat/iperf3
#   make tsan       the suite under ThreadSanitizer
#   make valgrind   the suite under valgrind
#   make stress     the load and fault suite (minutes; netns, strace, 10k clients)
#   make install PREFIX=/usr/local [DESTDIR=...]
#
# Variant builds (sanitizers) are the same rules run again with another
# BUILD directory and extra flags, so there is one set of rules to maintain.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man

VERSION := 0.1.0
SONAME  := libsock.so.0

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Iinclude
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  += -pthread

LIB_SRC   := $(wildcard src/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
PIC_OBJ   := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
# bench/*.c (but main.c) is linked into both build/bench and the tool, so
# that `sock bench` runs the same code as `make bench`.  bench/peers/*.c are
# standalone baselines (raw-syscall servers) built one binary each.
BENCH_SRC := $(filter-out bench/main.c,$(wildcard bench/*.c))
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(wildcard tools/*.c tools/demo/*.c)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/*.c tests/common/*.c)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)
TOOLT_SRC := $(wildcard tests/tool/*.c tests/common/*.c)
TOOLT_OBJ := $(TOOLT_SRC:%.c=$(BUILD)/%.o)
# tests/common/ is linked into every suite; the stress suite also reuses the
# tool tests' process harness and the unit tests' helpers.
STRESS_SRC := $(wildcard tests/stress/*.c tests/common/*.c) tests/tool/harness.c tests/unit/util.c
STRESS_OBJ := $(STRESS_SRC:%.c=$(BUILD)/%.o)
PEER_SRC  := $(wildcard bench/peers/*.c)
PEER_BIN  := $(PEER_SRC:bench/peers/%.c=$(BUILD)/bench-peers/%)
EX_SRC    := $(wildcard examples/*.c)
EX_BIN    := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

STATIC  := $(BUILD)/libsock.a
SHARED  := $(BUILD)/libsock.so
TOOL    := $(BUILD)/sock
BENCH   := $(BUILD)/sock-bench
UNIT    := $(BUILD)/test-unit
TOOLT   := $(BUILD)/test-tool
THREADS := $(BUILD)/threads
STRESS  := $(BUILD)/test-stress

.PHONY: no-criterion all lib tool examples tests test check-deps demo bench tsan valgrind \
        install uninstall clean clang-check stress

# The test binaries need Criterion; a plain `make` on a machine without it
# still builds the library and the tool (`make test` installs Criterion).
HAVE_CRITERION := $(wildcard /usr/include/criterion/criterion.h)
all: lib tool examples $(BUILD)/sock.pc $(if $(HAVE_CRITERION),tests,no-criterion)

no-criterion:
	@echo "note: Criterion is not installed, test binaries not built (make test installs it)"

lib: $(STATIC) $(SHARED)
tool: $(TOOL)
examples: $(EX_BIN)
tests: $(UNIT) $(TOOLT) $(THREADS)

# Every object records the headers it really includes (-MMD), and a header
# that disappears does not break the build (-MP).
DEPFLAGS = -MMD -MP

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DSOCK_BUILDING_SHARED -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(TOOL): $(TOOL_OBJ) $(BENCH_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJ) $(BENCH_OBJ) $(STATIC) $(LDLIBS)

# bench/ parses its numbers with the tool's parser (tools/util.c).
$(BENCH): $(BUILD)/bench/main.o $(BENCH_OBJ) $(BUILD)/tools/util.o $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(UNIT): $(UNIT_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_OBJ) $(STATIC) -lcriterion $(LDLIBS)

# The tool tests also call the tool's argument parsers and the demo's
# socket-free parts (packet parser, drawing, texts) directly
# (tests/tool/test_parse.c, test_demo.c), so they link the tool's objects
# but its main().
TOOL_LIB_OBJ := $(filter-out $(BUILD)/tools/main.o,$(TOOL_OBJ)) $(BENCH_OBJ)

$(TOOLT): $(TOOLT_OBJ) $(TOOL_LIB_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOLT_OBJ) $(TOOL_LIB_OBJ) $(STATIC) -lcriterion $(LDLIBS)

$(STRESS): $(STRESS_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(STRESS_OBJ) $(STATIC) -lcriterion $(LDLIBS)

# The thread scenarios as a plain program: Criterion cannot start under
# ThreadSanitizer, so `make tsan` runs this one (see tests/tsan/threads.c).
$(THREADS): tests/tsan/threads.c $(STATIC)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(BUILD)/bench-peers/%: bench/peers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# sock.pc for PREFIX/LIBDIR/INCDIR, written by the build and by install
# (which may be given another PREFIX) with the same substitution.
PC_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
               -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' sock.pc.in

$(BUILD)/sock.pc: sock.pc.in
	@mkdir -p $(dir $@)
	$(PC_SUBST) > $@

# ---------------------------------------------------------------- tests

SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

check-deps:
	@scripts/ensure-deps test

# The normal test run: the whole suite built with ASan+UBSan, plus a clang
# -Werror build so both compilers stay clean, and every fuzz target for a
# few seconds (a crash in a parser fails the run).
test: check-deps
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(SAN_FLAGS)" tests tool examples
	$(MAKE) --no-print-directory clang-check
	$(MAKE) --no-print-directory fuzz-smoke
	scripts/run-tests build/asan

# build/clang is also the plain (unsanitized) build that the install test
# installs and links against; with no clang it is built with cc.
clang-check:
	@if command -v clang >/dev/null; then \
	  $(MAKE) --no-print-directory BUILD=build/clang CC=clang all; \
	else echo "clang not installed: the plain build uses $(CC)"; \
	  $(MAKE) --no-print-directory BUILD=build/clang all; fi

# Criterion cannot start under ThreadSanitizer (its arena fails to map), so
# the TSan run is: the thread scenarios driver built with TSan, and the tool
# and examples built with TSan, driven by the uninstrumented tool suite.
tsan: check-deps
	$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CFLAGS="-O1 -g -fsanitize=thread" tool examples build/tsan/threads
	$(MAKE) --no-print-directory BUILD=build/clang CC=clang build/clang/test-tool
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/threads
	TSAN_OPTIONS="halt_on_error=1" SOCK_BIN=$(CURDIR)/build/tsan/sock \
	  SOCK_EXAMPLES=$(CURDIR)/build/tsan/examples build/clang/test-tool --jobs=1

valgrind: check-deps
	$(MAKE) --no-print-directory BUILD=build/vg CFLAGS="-O1 -g" \
	  EXTRA_CFLAGS=-DSOCK_TEST_TIME_SCALE=5 tests tool examples
	VALGRIND=1 scripts/run-tests build/vg

# The load and fault suite (scenarios 30-39 and 42 of the reliability
# catalogue): an optimized build, since it measures the servers at scale,
# plus the thread driver under TSan, repeated.
stress:
	@scripts/ensure-deps stress
	$(MAKE) --no-print-directory all $(STRESS)
	$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CFLAGS="-O1 -g -fsanitize=thread" build/tsan/threads
	scripts/run-stress $(BUILD)


# ---------------------------------------------------------------- demo, bench

demo: lib tool examples
	$(TOOL) demo

bench: all $(BENCH) $(PEER_BIN)
	@scripts/ensure-deps bench
	scripts/run-bench $(BUILD)

# ---------------------------------------------------------------- install

install: lib tool
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 644 include/sock.h $(DESTDIR)$(INCDIR)/sock.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libsock.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libsock.so.$(VERSION)
	ln -sf libsock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsock.so
	$(PC_SUBST) > $(DESTDIR)$(LIBDIR)/pkgconfig/sock.pc
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/sock
	if [ -f docs/sock.1 ]; then install -m 644 docs/sock.1 $(DESTDIR)$(MANDIR)/man1/sock.1; fi

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/sock.h $(DESTDIR)$(LIBDIR)/libsock.a \
	      $(DESTDIR)$(LIBDIR)/libsock.so* $(DESTDIR)$(LIBDIR)/pkgconfig/sock.pc \
	      $(DESTDIR)$(BINDIR)/sock $(DESTDIR)$(MANDIR)/man1/sock.1

clean:
	rm -rf build

include tests/fuzz/fuzz.mk
include tls/tls.mk

# The headers each object includes, as recorded by -MMD.
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
