# tls/tls.mk - libsock-tls, the TLS layer on OpenSSL 3, and its tests
# (included from the Makefile; see docs/tls.md).
#
# A library of its own, so that libsock stays on libc and pthreads:
# build/libsock-tls.a, build/libsock-tls.so (soname libsock-tls.so.0, only
# the SOCK_TLS_API functions exported), build/sock-tls.pc; its suite
# build/test-tls, run by scripts/run-tests.  The objects are built by the
# Makefile's own pattern rules, so the variant builds (ASan, clang, ...)
# cover them too.

TLS_VERSION := $(VERSION)
TLS_SONAME  := libsock-tls.so.0
TLS_LDLIBS  := -lssl -lcrypto

TLS_SRC     := $(wildcard tls/*.c)
TLS_OBJ     := $(TLS_SRC:%.c=$(BUILD)/%.o)
TLS_PIC_OBJ := $(TLS_SRC:%.c=$(BUILD)/pic/%.o)
TLS_STATIC  := $(BUILD)/libsock-tls.a
TLS_SHARED  := $(BUILD)/libsock-tls.so
TLST        := $(BUILD)/test-tls
# The suite reuses the tool tests' process harness (peers such as openssl,
# curl, python3, socat) and the unit tests' helpers.
TLST_SRC    := $(wildcard tests/tls/*.c tests/common/*.c) tests/tool/harness.c tests/unit/util.c
TLST_OBJ    := $(TLST_SRC:%.c=$(BUILD)/%.o)

.PHONY: tls-lib install-tls uninstall-tls no-openssl

# Like the test binaries without Criterion, libsock-tls is left out (with a
# note) on a machine without OpenSSL's headers; make test installs them.
HAVE_OPENSSL := $(wildcard /usr/include/openssl/ssl.h)
ifneq ($(HAVE_OPENSSL),)
lib: tls-lib
tests: $(TLST)
install: install-tls
else
lib: no-openssl
endif
uninstall: uninstall-tls

# The tool's --tls options (tools/tls.c) stand on libsock-tls when it is
# built; without OpenSSL the tool is built all the same and refuses them.
# libsock.a comes again after libsock-tls.a, which calls into it.
ifneq ($(HAVE_OPENSSL),)
TOOL_TLS_LIBS := $(TLS_STATIC) $(STATIC) $(TLS_LDLIBS)
$(BUILD)/tools/tls.o: CPPFLAGS += -DSOCK_TOOL_TLS
$(TOOL) $(TOOLT): $(TLS_STATIC)
$(BUILD)/fuzz-cli: $(TLS_STATIC)
$(BUILD)/fuzz-cli: LDLIBS += $(TOOL_TLS_LIBS)
endif
tls-lib: $(TLS_STATIC) $(TLS_SHARED) $(BUILD)/sock-tls.pc

no-openssl:
	@echo "note: OpenSSL's headers (libssl-dev) are not installed, libsock-tls not built (make test installs them)"

# The headers each of these objects includes (-MMD), as the Makefile does
# for its own: a .d named as a target, so that an object without one is
# rebuilt, and included, since the Makefile's own search stops at two
# levels (build/tests/tls/ and build/pic/tls/ are three).
TLS_DEPFILES := $(patsubst %.o,%.d,$(TLS_OBJ) $(TLS_PIC_OBJ) $(TLST_OBJ))
$(TLS_DEPFILES):
-include $(wildcard $(TLS_DEPFILES))

$(TLS_STATIC): $(TLS_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Linked against libsock.so, so that a program gets one libsock.
$(TLS_SHARED): $(TLS_PIC_OBJ) $(SHARED)
	$(CC) -shared -Wl,-soname,$(TLS_SONAME) $(ALL_CFLAGS) -o $@ $(TLS_PIC_OBJ) \
	  -L$(BUILD) -lsock $(TLS_LDLIBS) $(LDLIBS)

$(TLST): $(TLST_OBJ) $(TLS_STATIC) $(STATIC)
	$(CC) $(ALL_CFLAGS) -o $@ $(TLST_OBJ) $(TLS_STATIC) $(STATIC) $(TLS_LDLIBS) -lcriterion $(LDLIBS)

TLS_PC_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
                   -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(TLS_VERSION)|' sock-tls.pc.in

$(BUILD)/sock-tls.pc: sock-tls.pc.in
	@mkdir -p $(dir $@)
	$(TLS_PC_SUBST) > $@

# The CMake component (cmake/sock-tls.cmake.in: sock::sock-tls) goes next to
# libsock's sockConfig.cmake, which includes it, with the same substitution.
TLS_CMAKE_SUBST = $(CMAKE_SUBST) -e 's|@TLS_SONAME@|$(TLS_SONAME)|g' cmake/sock-tls.cmake.in

install-tls: tls-lib
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(CMAKEDIR)
	install -m 644 include/sock_tls.h $(DESTDIR)$(INCDIR)/sock_tls.h
	install -m 644 $(TLS_STATIC) $(DESTDIR)$(LIBDIR)/libsock-tls.a
	install -m 755 $(TLS_SHARED) $(DESTDIR)$(LIBDIR)/libsock-tls.so.$(TLS_VERSION)
	ln -sf libsock-tls.so.$(TLS_VERSION) $(DESTDIR)$(LIBDIR)/$(TLS_SONAME)
	ln -sf $(TLS_SONAME) $(DESTDIR)$(LIBDIR)/libsock-tls.so
	$(TLS_PC_SUBST) > $(DESTDIR)$(LIBDIR)/pkgconfig/sock-tls.pc
	$(TLS_CMAKE_SUBST) > $(DESTDIR)$(CMAKEDIR)/sock-tls.cmake

uninstall-tls:
	rm -f $(DESTDIR)$(INCDIR)/sock_tls.h $(DESTDIR)$(LIBDIR)/libsock-tls.a \
	      $(DESTDIR)$(LIBDIR)/libsock-tls.so* $(DESTDIR)$(LIBDIR)/pkgconfig/sock-tls.pc \
	      $(DESTDIR)$(CMAKEDIR)/sock-tls.cmake

# Part 5 of `make bench` (bench/run.py): libsock-tls against openssl and
# socat (tls/bench/main.c).
TLS_BENCH := $(BUILD)/tls-bench
ifneq ($(HAVE_OPENSSL),)
bench: $(TLS_BENCH)
endif

$(TLS_BENCH): tls/bench/main.c $(TLS_STATIC) $(STATIC)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(ALL_CFLAGS) -o $@ $< $(TLS_STATIC) $(STATIC) $(TLS_LDLIBS) $(LDLIBS)
