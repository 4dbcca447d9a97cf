# ember — a plain, non-recursive GNU Makefile (see README.md).
#
# User settings: override on the command line or in an uncommitted config.mak.
CC        ?= cc
PREFIX    ?= /usr/local
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR?= $(PREFIX)/include
BINDIR    ?= $(PREFIX)/bin
DESTDIR   ?=
OPT       ?= -O2 -g
# SANITIZE=address (ASan+UBSan) or SANITIZE=thread builds into build/<kind>/.
SANITIZE  ?=
-include config.mak

VERSION   := 0.1.0
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wpointer-arith -Wvla -Wformat=2 \
             -Wno-unused-parameter
BASECFLAGS = -std=c11 -D_GNU_SOURCE -fvisibility=hidden $(WARN) $(OPT)
# The library's objects: each function starts on a 64-byte boundary, the
# unit the CPU fetches and caches decoded code in, so where a hot function
# lands no longer moves a local round trip by several per cent from one
# build to the next (docs/perf.md, "Building for programs"; 4.5 % more
# code).  The archive's are position-independent for executables
# (-fPIE): a thread-local access is then one load at a fixed offset from
# %fs, and calls inside the library go straight to their target.
# libember.so's are -fPIC, as a shared library's must be; a shared library
# or plugin of the user's links libember.so, not libember.a.
LIBCFLAGS  = -falign-functions=64

# BUILD=dir puts every output under dir instead of build/.
BUILD     ?= build
ifeq ($(SANITIZE),address)
  B        := $(BUILD)/asan
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(SANITIZE),thread)
  B        := $(BUILD)/tsan
  SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(SANITIZE),)
  B        := $(BUILD)
  SANFLAGS :=
else
  $(error SANITIZE must be empty, address or thread)
endif

ALL_CFLAGS = $(BASECFLAGS) $(SANFLAGS) -Iinclude $(CFLAGS)
LDLIBS    := -lpthread -lm

# The one list of public headers: include/ as it is installed (<ember.h>
# and <ember/*.h>); every header in a module folder is private.  Listed,
# not found: every object and program depends on the list, so a listed
# header missing from the tree stops the build ("No rule to make target
# 'include/ember/dist.h'") instead of being left out of the installed tree;
# tests/headers.sh (make check-headers) fails on a header in include/ that
# is not listed, and compiles each listed one on its own.
PUBLIC_HEADERS := include/ember.h \
                  $(addprefix include/ember/,common.h term.h etf.h runtime.h sup.h call.h server.h export.h epmd.h dist.h global.h pg.h)

LIB_SRCS  := $(wildcard term/*.c runtime/*.c net/*.c)
LIB_ASMS  := $(wildcard runtime/*.S)
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/%.o) $(LIB_ASMS:%.S=$(B)/%.o)
LIB_A     := $(B)/lib/libember.a
LIB_SO    := $(B)/lib/libember.so
# libember.so's objects reach their thread-locals through TLS descriptors
# where the compiler has them for x86-64 (GCC): an access to a hot one
# (the current scheduler, the node and box caches) is then a call to a
# two-instruction resolver instead of __tls_get_addr (a local ping-pong
# round trip: about 150 instructions fewer), and the library can still be
# dlopen'ed, which initial-exec thread-locals would not allow.  The
# archive's objects (-fPIE, above) reach theirs directly.
TLSFLAGS  := $(shell $(CC) -mtls-dialect=gnu2 -x c -c /dev/null -o /dev/null 2>/dev/null && echo -mtls-dialect=gnu2)
SO_OBJS   := $(LIB_SRCS:%.c=$(B)/so/%.o) $(LIB_ASMS:%.S=$(B)/%.o)

# A tool is a program of one file, tools/NAME.c, except the parts of the
# `ember` command line, tools/ember_*.c, linked into it.
EMBER_PARTS := $(wildcard tools/ember_*.c)
TOOL_SRCS := $(filter-out $(EMBER_PARTS),$(wildcard tools/*.c))
TOOLS     := $(TOOL_SRCS:tools/%.c=$(B)/bin/%)
EX_SRCS   := $(wildcard examples/*.c)
EXAMPLES  := $(EX_SRCS:examples/%.c=$(B)/examples/%)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_SUP  := $(wildcard tests/support/*.c)
TESTS     := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
BENCH_SRCS:= $(wildcard bench/*.c)
BENCHES   := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

.PHONY: FORCE all lib tools examples tests benches test check bench demo fuzz \
        install uninstall clean distclean deps deps-clang unit check-headers \
        check-layers
all: lib tools examples
lib: $(LIB_A) $(LIB_SO)
tools: $(TOOLS)
examples: $(EXAMPLES)
benches: $(BENCHES)

$(B)/so/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LIBCFLAGS) -fPIC $(TLSFLAGS) -MMD -MP -c $< -o $@
$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LIBCFLAGS) -fPIE -MMD -MP -c $< -o $@
# Named here, not in the pattern rule: a missing prerequisite of a pattern
# rule only makes make say it has no rule for the object.
$(LIB_OBJS) $(SO_OBJS): $(PUBLIC_HEADERS)
# A node looks for ember-epmd in the installed tree too
# (include/ember/epmd.h).  The stamp holds BINDIR and is rewritten only
# when it changes, so a `make install PREFIX=...` after a plain `make`
# rebuilds the one object using it.
$(B)/net/epmd_client.o $(B)/so/net/epmd_client.o: ALL_CFLAGS += -DEM_BINDIR='"$(BINDIR)"'
$(B)/net/epmd_client.o $(B)/so/net/epmd_client.o: $(B)/bindir.stamp
$(B)/bindir.stamp: FORCE
	@mkdir -p $(@D); echo '$(BINDIR)' | cmp -s - $@ || echo '$(BINDIR)' > $@
FORCE:
$(B)/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@mkdir -p $(@D); rm -f $@
	$(AR) rcs $@ $^
$(LIB_SO): $(SO_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libember.so.0 $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bin/ember: tools/ember.c $(EMBER_PARTS) tools/ember_cli.h $(LIB_A) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ tools/ember.c $(EMBER_PARTS) $(LIB_A) $(LDLIBS)
$(B)/bin/%: tools/%.c $(LIB_A) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
$(B)/examples/%: examples/%.c $(LIB_A) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
$(B)/bench/%: bench/%.c $(LIB_A) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
# Tests may include private headers of the modules they test, and
# tests/support's; -MMD lists what each included (build/tests/*.d), so a
# change to one of those headers rebuilds the tests that use it.
$(B)/tests/%: tests/%.c $(TEST_SUP) $(LIB_A) $(PUBLIC_HEADERS) | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iterm -Iruntime -Inet -Itests/support $(CHECK_CFLAGS) \
	  -MMD -MP -MF $@.d -MT $@ -o $@ $< $(TEST_SUP) $(LIB_A) $(CHECK_LIBS) $(LDLIBS)

# Programs the interop scripts run, built here (tests/interop/*.sh run
# them from $(B)/tests/interop/): public API only, like a user's program.
INTEROP_PROGS := $(B)/tests/interop/etf_corpus_check
$(B)/tests/interop/etf_corpus_check: tests/interop/etf_corpus_check.c $(LIB_A) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

tests: $(TESTS) $(INTEROP_PROGS)

# Installs what the tests need (Check, Erlang/OTP) when missing; see .ci/deps.
deps:
	@sh .ci/deps

# The public headers: include/ is the list, each compiles alone (gcc and
# clang), none names an em__ identifier (tests/headers.sh).
check-headers:
	@sh tests/headers.sh $(PUBLIC_HEADERS)

# The includes keep the layers: none goes up a layer (term < runtime < net
# < tools), crosses into another folder's private header outside the
# declared seams, or closes a cycle, and no header names a function defined
# only above it (tests/check_layers.sh); then that the check fails when it
# should (tests/check_layers_test.sh).
check-layers:
	@sh tests/check_layers.sh
	@sh tests/check_layers_test.sh

# Unit tests (Check), then interop tests against real OTP (tests/interop/*.sh).
test check: check-headers check-layers all $(TESTS) $(INTEROP_PROGS) deps
	@B=$(B) sh tests/run.sh $(TESTS)
# The unit tests alone (CI runs them in its clang build).
unit: all $(TESTS) deps
	@B=$(B) sh tests/run.sh --unit $(TESTS)

bench: all $(BENCHES)
	@B=$(B) sh bench/run.sh $(BENCH)

demo: all
	@B=$(B) sh examples/demo.sh

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIB_SRCS := $(LIB_SRCS)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	  -Iinclude -Iterm -Iruntime -Inet -o $@ $< $(FUZZ_LIB_SRCS) $(LIB_ASMS) $(LDLIBS)
# `make fuzz` builds the fuzzers, writes their seed corpora (real OTP's
# encodings, tests/fuzz/seeds.escript) and runs each over its seeds and then
# for FUZZ_SECONDS seconds (default 60); any crash, leak or timeout fails.
fuzz: $(FUZZERS) deps-clang
	@escript tests/fuzz/seeds.escript $(BUILD)/fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh $(FUZZERS)
$(FUZZERS): | deps-clang
deps-clang:
	@sh .ci/deps clang

# ember.pc is written at install time from the PREFIX, LIBDIR and
# INCLUDEDIR of that install (a file kept in $(B) would go stale when a
# second install uses another PREFIX).  Libs.private is what a static link
# (pkg-config --static) adds.
PC_FORMAT = prefix=%s\nlibdir=%s\nincludedir=%s\n\nName: ember\nDescription: Erlang-style processes and Erlang distribution for C\nVersion: %s\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lember\nLibs.private: -lpthread -lm\n

install: all
	install -d $(DESTDIR)$(INCLUDEDIR)/ember $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 644 $(filter-out include/ember/%,$(PUBLIC_HEADERS)) $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(filter include/ember/%.h,$(PUBLIC_HEADERS)) $(DESTDIR)$(INCLUDEDIR)/ember/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libember.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libember.so.$(VERSION)
	ln -sf libember.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libember.so.0
	ln -sf libember.so.0 $(DESTDIR)$(LIBDIR)/libember.so
	printf '$(PC_FORMAT)' '$(PREFIX)' '$(LIBDIR)' '$(INCLUDEDIR)' '$(VERSION)' \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/ember.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/ember.pc
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/

# Removes every file install put there (the same PREFIX/DESTDIR), and the
# ember/ include folder; the shared folders (lib, bin, pkgconfig) stay.
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libember.a \
	  $(DESTDIR)$(LIBDIR)/libember.so $(DESTDIR)$(LIBDIR)/libember.so.0 \
	  $(DESTDIR)$(LIBDIR)/libember.so.$(VERSION) $(DESTDIR)$(LIBDIR)/pkgconfig/ember.pc
	rm -f $(PUBLIC_HEADERS:include/%=$(DESTDIR)$(INCLUDEDIR)/%)
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(TOOLS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/ember 2>/dev/null

clean:
	rm -rf build
distclean: clean
	rm -f config.mak

-include $(shell find $(B) -maxdepth 3 -name '*.d' 2>/dev/null)
