# tests/fuzz/fuzz.mk - the libFuzzer targets of the parsers (included from
# the Makefile; see tests/fuzz/README.md).
#
#   make fuzz         every target for FUZZ_SECONDS (60) each, from the seed
#                     corpus, then its executions and coverage
#   make fuzz-smoke   every target for FUZZ_SMOKE_SECONDS (3) each: a crash
#                     in a parser fails the run (part of make test)
#
# The targets are built like the other variants: the same rules run again
# in a BUILD directory of their own, here with clang, the sanitizers and
# libFuzzer's coverage instrumentation for the library (fuzzer-no-link);
# only the final link adds libFuzzer's main (-fsanitize=fuzzer).

FUZZ_BUILD         := build/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_TARGETS       := hostport resolve demo_packet cli frame
FUZZ_CFLAGS        := -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all \
                      -fsanitize=fuzzer-no-link,address,undefined
FUZZ_BIN           := $(FUZZ_TARGETS:%=$(BUILD)/fuzz-%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-bins

fuzz-build:
	@scripts/ensure-deps test
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang CFLAGS="$(FUZZ_CFLAGS)" fuzz-bins

fuzz-bins: $(FUZZ_BIN)

# The objects are kept, so that a second build relinks only what changed.
.SECONDARY: $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz_%.o) $(BUILD)/tests/fuzz/harness.o

# Every target links the harness, whose --wrap=connect guard stops the run
# at any connect() off loopback made by our code.
$(BUILD)/fuzz-%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/harness.o $(STATIC)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -Wl,--wrap=connect -o $@ $(filter %.o,$^) $(filter %.a,$^) \
	  $(LDLIBS)

# The demo's parser with its own header's folder on the include path.
$(BUILD)/tests/fuzz/fuzz_demo_packet.o: CPPFLAGS += -Itools/demo
$(BUILD)/fuzz-demo_packet: $(BUILD)/tools/demo/packet.o

# The tool's parsers: the tool's objects but main.o (libFuzzer has the main).
$(BUILD)/tests/fuzz/fuzz_cli.o: CPPFLAGS += -Itools
$(BUILD)/fuzz-cli: $(filter-out $(BUILD)/tools/main.o,$(TOOL_OBJ)) $(BENCH_OBJ)

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)
