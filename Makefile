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
#   make deb        the Debian packages, into build/deb/
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

# The version lives in the VERSION file alone: the soname follows its major
# number, src/version.c (sock_version) and the tool get it as -D, and
# src/version.c refuses to build if include/sock.h's SOCK_VERSION_MAJOR/MINOR
# disagree.
VERSION       := $(shell cat VERSION)
VERSION_WORDS := $(subst ., ,$(VERSION))
VERSION_MAJOR := $(word 1,$(VERSION_WORDS))
VERSION_MINOR := $(word 2,$(VERSION_WORDS))
SONAME        := libsock.so.$(VERSION_MAJOR)
VERSION_DEFS  := -DSOCK_BUILD_VERSION='"$(VERSION)"' -DSOCK_BUILD_MAJOR=$(VERSION_MAJOR) \
                 -DSOCK_BUILD_MINOR=$(VERSION_MINOR)

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

# ---------------------------------------------------------------- trace
# `sock trace`: the command (tools/trace/) is part of the tool; the library
# it preloads into the traced program (trace/) is one of its own, built
# from PIC objects with libc, pthreads and libdl only.  The programs it is
# tested on (tests/trace/programs/, C and C++) are built with the tests.
TRACE_TOOL_SRC := $(wildcard tools/trace/*.c)
TOOL_SRC  += $(TRACE_TOOL_SRC)
TOOL_OBJ  += $(TRACE_TOOL_SRC:%.c=$(BUILD)/%.o)
TRACE_OBJ := $(patsubst %.c,$(BUILD)/pic/%.o,$(wildcard trace/*.c))
TRACE_LIB := $(BUILD)/libsocktrace.so
TRACE_PROGS := $(patsubst tests/trace/programs/%.c,$(BUILD)/trace-programs/%,$(wildcard tests/trace/programs/*.c)) \
               $(patsubst tests/trace/programs/%.cpp,$(BUILD)/trace-programs/%,$(wildcard tests/trace/programs/*.cpp))
CXX ?= g++

STATIC  := $(BUILD)/libsock.a
SHARED  := $(BUILD)/libsock.so
TOOL    := $(BUILD)/sock
BENCH   := $(BUILD)/sock-bench
UNIT    := $(BUILD)/test-unit
TOOLT   := $(BUILD)/test-tool
THREADS := $(BUILD)/threads
STRESS  := $(BUILD)/test-stress

.PHONY: no-criterion all lib tool examples tests test check-deps demo bench tsan valgrind trace-programs \
        install uninstall clean clang-check stress man deb deb-lint deb-symbols

# The test binaries need Criterion; a plain `make` on a machine without it
# still builds the library and the tool (`make test` installs Criterion).
HAVE_CRITERION := $(wildcard /usr/include/criterion/criterion.h)
all: lib tool examples man $(BUILD)/sock.pc $(if $(HAVE_CRITERION),tests,no-criterion)

no-criterion:
	@echo "note: Criterion is not installed, test binaries not built (make test installs it)"

lib: $(STATIC) $(SHARED)
tool: $(TOOL)
examples: $(EX_BIN)
tests: $(UNIT) $(TOOLT) $(THREADS)

# Every object records the headers it really includes (-MMD), and a header
# that disappears does not break the build (-MP).
DEPFLAGS = -MMD -MP

# An object whose .d is missing (built before -MMD, or the .d was removed)
# is rebuilt: the .d is a prerequisite with an empty rule, so a missing one
# counts as just made.  Objects outside DEPFILES (the fuzz targets, other
# suites) use the second rule, which is the same compile.
define COMPILE
@mkdir -p $(dir $@)
$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -c $< -o $@
endef

$(BUILD)/%.o: %.c $(BUILD)/%.d
	$(COMPILE)

$(BUILD)/%.o: %.c
	$(COMPILE)

# Every object's .d, named as targets with no recipe: make may then take
# a missing one as made (an implicit prerequisite must be such a target).
DEPFILES := $(patsubst %.o,%.d,$(LIB_OBJ) $(PIC_OBJ) $(TOOL_OBJ) $(BENCH_OBJ) $(UNIT_OBJ) \
              $(TOOLT_OBJ) $(STRESS_OBJ) $(BUILD)/bench/main.o)
$(DEPFILES):

define COMPILE_PIC
@mkdir -p $(dir $@)
$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DSOCK_BUILDING_SHARED -c $< -o $@
endef

$(BUILD)/pic/%.o: %.c $(BUILD)/pic/%.d
	$(COMPILE_PIC)

$(BUILD)/pic/%.o: %.c
	$(COMPILE_PIC)

# Only the files that print or return the version see it, and they are
# rebuilt when VERSION changes.
VERSION_OBJ := $(BUILD)/src/version.o $(BUILD)/pic/src/version.o $(BUILD)/tools/main.o
$(VERSION_OBJ): CPPFLAGS += $(VERSION_DEFS)
$(VERSION_OBJ): VERSION

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(TOOL): $(TOOL_OBJ) $(BENCH_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJ) $(BENCH_OBJ) $(TOOL_TLS_LIBS) $(STATIC) $(LDLIBS)

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
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOLT_OBJ) $(TOOL_LIB_OBJ) $(TOOL_TLS_LIBS) $(STATIC) -lcriterion $(LDLIBS)

$(STRESS): $(STRESS_OBJ) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(STRESS_OBJ) $(STATIC) -lcriterion $(LDLIBS)

# The thread scenarios as a plain program: Criterion cannot start under
# ThreadSanitizer, so `make tsan` runs this one (see tests/tsan/threads.c).
$(THREADS): tests/tsan/threads.c $(STATIC)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(BUILD)/bench-peers/%: bench/peers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# he_connect measures the library's own connect (bench part "reach"), so,
# unlike the raw-syscall peers, it links libsock.
$(BUILD)/bench-peers/he_connect: bench/peers/he_connect.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

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
	@scripts/ensure-deps deb

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
# `sock trace` preloads its interposer into other programs (nc, curl, the
# test programs), which TSan's runtime cannot join: the TSan-built tool
# preloads the plain build's interposer (SOCK_TRACE_LIB) into the test
# programs, which are built plain too (they are the traced, not the tested).
tsan: check-deps
	$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CFLAGS="-O1 -g -fsanitize=thread" tool examples build/tsan/threads
	$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CFLAGS="-O1 -g" trace-programs
	$(MAKE) --no-print-directory BUILD=build/clang CC=clang build/clang/test-tool build/clang/libsocktrace.so
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/threads
	TSAN_OPTIONS="halt_on_error=1" SOCK_BIN=$(CURDIR)/build/tsan/sock \
	  SOCK_EXAMPLES=$(CURDIR)/build/tsan/examples SOCK_PLAIN_BUILD=build/clang \
	  SOCK_TRACE_LIB=$(CURDIR)/build/clang/libsocktrace.so scripts/offline build/clang/test-tool --jobs=1

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

# ---------------------------------------------------------------- install, packages
#
# The section 3 pages are generated from include/sock.h (scripts/gen-man3:
# one page per call or family, its return values and errors as the
# header's comment names them), so they follow the header as it grows.
# The CMake config is written at install time, with paths relative to
# itself, like sock.pc is written for the PREFIX given then.

CMAKEDIR ?= $(LIBDIR)/cmake/sock
LDCONFIG ?= ldconfig
MAN3     := $(BUILD)/man/man3

man: $(MAN3)/.stamp

$(MAN3)/.stamp: include/sock.h scripts/gen-man3 VERSION
	@mkdir -p $(MAN3)
	scripts/gen-man3 include/sock.h $(MAN3) $(VERSION)
	@touch $@

CMAKE_SUBST = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(VERSION_MAJOR)|g' \
                  -e 's|@REL_LIBDIR@|$(shell realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))|' \
                  -e 's|@REL_INCDIR@|$(shell realpath -m --relative-to=$(CMAKEDIR) $(INCDIR))|' \
                  -e "s|@SIZEOF_VOID_P@|$$(getconf LONG_BIT | awk '{print $$1 / 8}')|"

install: lib tool man
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
	           $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(CMAKEDIR)
	install -m 644 include/sock.h $(DESTDIR)$(INCDIR)/sock.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libsock.a
	install -m 644 $(SHARED) $(DESTDIR)$(LIBDIR)/libsock.so.$(VERSION)
	ln -sf libsock.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsock.so
	$(PC_SUBST) > $(DESTDIR)$(LIBDIR)/pkgconfig/sock.pc
	$(CMAKE_SUBST) cmake/sockConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/sockConfig.cmake
	$(CMAKE_SUBST) cmake/sockConfigVersion.cmake.in > $(DESTDIR)$(CMAKEDIR)/sockConfigVersion.cmake
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/sock
	sed '1,/^\.TH/s/"sock [0-9][0-9.]*"/"sock $(VERSION)"/' docs/sock.1 > $(DESTDIR)$(MANDIR)/man1/sock.1
	install -m 644 $(MAN3)/*.3 $(DESTDIR)$(MANDIR)/man3/
	@scripts/install-ldconfig "$(DESTDIR)" "$(LIBDIR)" "$(LDCONFIG)"

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/sock.h $(DESTDIR)$(LIBDIR)/libsock.a \
	      $(DESTDIR)$(LIBDIR)/libsock.so* $(DESTDIR)$(LIBDIR)/pkgconfig/sock.pc \
	      $(DESTDIR)$(CMAKEDIR)/sockConfig.cmake $(DESTDIR)$(CMAKEDIR)/sockConfigVersion.cmake \
	      $(DESTDIR)$(BINDIR)/sock $(DESTDIR)$(MANDIR)/man1/sock.1 \
	      $(DESTDIR)$(MANDIR)/man3/sock.3 $(DESTDIR)$(MANDIR)/man3/sock_*.3 \
	      $(DESTDIR)$(MANDIR)/man3/SOCK_*.3
	-rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null

# The Debian packages (debian/), built from a copy of this tree inside
# build/deb/ so that dpkg-buildpackage, which writes into the parent of the
# tree it builds, leaves nothing outside the repository nor in debian/.
# The .deb, .changes and .buildinfo files end up in build/deb/; `make
# deb-lint` runs lintian on them.
DEB_DIR := build/deb
DEB_SRC := $(DEB_DIR)/src/sock-$(VERSION)

deb:
	@scripts/ensure-deps deb
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	tar --exclude=./build --exclude=./.git -cf - . | tar -C $(DEB_SRC) -xf -
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.changes $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/
	rm -rf $(DEB_DIR)/src
	@ls $(DEB_DIR)

# After the library gains calls: rewrite debian/libsock0.symbols from the
# last make deb (the calls it knew keep their versions, new ones get this
# one), then review the diff.
deb-symbols:
	rm -rf $(DEB_DIR)/symbols && mkdir -p $(DEB_DIR)/symbols
	dpkg-deb -x $(DEB_DIR)/libsock0_$(VERSION)_*.deb $(DEB_DIR)/symbols
	dpkg-gensymbols -q -plibsock0 -v$(VERSION) -P$(DEB_DIR)/symbols \
	  -Idebian/libsock0.symbols -Odebian/libsock0.symbols
	rm -rf $(DEB_DIR)/symbols

deb-lint:
	@scripts/ensure-deps deb
	lintian --info --display-info --pedantic $(DEB_DIR)/*.changes

clean:
	rm -rf build

# ---------------------------------------------------------------- trace

tool: $(TRACE_LIB)
tests: $(TRACE_PROGS)
trace-programs: $(TRACE_PROGS)

$(TRACE_LIB): $(TRACE_OBJ)
	$(CC) -shared $(ALL_CFLAGS) -o $@ $^ -ldl -pthread

$(BUILD)/trace-programs/%: tests/trace/programs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< -pthread

# A static program is built without the sanitizers (they need the dynamic
# loader): it only has to be refused.
$(BUILD)/trace-programs/static_hello: tests/trace/programs/static_hello.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -O1 -static -o $@ $<

$(BUILD)/trace-programs/%: tests/trace/programs/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(DEPFLAGS) -std=c++17 -Wall -Wextra -Werror -Wshadow $(CFLAGS) -o $@ $< -pthread

.PHONY: install-trace uninstall-trace
install: install-trace
uninstall: uninstall-trace
install-trace: $(TRACE_LIB)
	install -d $(DESTDIR)$(LIBDIR)/sock
	install -m 755 $(TRACE_LIB) $(DESTDIR)$(LIBDIR)/sock/libsocktrace.so
uninstall-trace:
	rm -f $(DESTDIR)$(LIBDIR)/sock/libsocktrace.so
	-rmdir $(DESTDIR)$(LIBDIR)/sock 2>/dev/null

include tests/fuzz/fuzz.mk
include tls/tls.mk

# The headers each object includes, as recorded by -MMD (the programs
# linked straight from one source, examples and peers, have theirs too).
-include $(wildcard $(DEPFILES)) $(shell find $(BUILD) -maxdepth 2 -name '*.d' 2>/dev/null)
