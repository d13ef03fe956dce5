# SPDX-License-Identifier: MIT
# pinhole: one Makefile, output in build/.  `make V=1` shows every command.

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
# A sanitized build never shares objects with a plain one: its own directory by default.
ifeq ($(SANITIZE),1)
BUILD    ?= build-asan
endif
BUILD    ?= build
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2)
endif

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -fno-strict-aliasing \
            -D_GNU_SOURCE -MMD -MP -I. -Iuserspace -Ibpf -I$(BUILD)
LDLIBS   += -lbpf -luring -lmnl -lcrypto -lz -lsqlite3 -lelf -ljansson -lmicrohttpd
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Werror -Wno-unused-parameter \
              -I$(ARCH_INC) -Ibpf -MMD -MP

# SANITIZE=1: every host binary and test with ASan + UBSan (BPF objects are not host code).
# A UBSan finding ends the process (-fno-sanitize-recover) instead of scrolling past, so
# the test that ran it fails; leaks are reported at exit.  ASan and LeakSanitizer reports
# go to $(SAN_LOG_DIR)/report.<pid> (gcc's UBSan ignores log_path: stderr), so a leak in a
# lab daemon whose log the test never reads (or deletes) is still seen:
# tests/tools/sanitized.sh runs the suite and fails it if any report was written.
SAN_FLAGS :=
SAN_RUN   :=
ifeq ($(SANITIZE),1)
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_LOG_DIR := $(abspath $(BUILD))/sanitizer
SAN_RUN     := bash tests/tools/sanitized.sh $(SAN_LOG_DIR)
# gcc 12's flow warnings see the instrumented code, and some misfire there (a strcmp
# after a cmocka fail_msg() read as "region of size 0"): still shown, not fatal.
CFLAGS  += $(SAN_FLAGS) -fno-omit-frame-pointer -Wno-error=stringop-overread \
           -Wno-error=stringop-overflow
LDFLAGS += $(SAN_FLAGS)
export ASAN_OPTIONS  := detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$(SAN_LOG_DIR)/report
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1:log_path=$(SAN_LOG_DIR)/report
export LSAN_OPTIONS  := suppressions=$(abspath tests/tools/lsan.supp):print_suppressions=0
endif

.DELETE_ON_ERROR:
.SUFFIXES:
.PHONY: all clean deps test unit lab demo bench

BPF_SRCS  := $(wildcard bpf/*.bpf.c bench/*.bpf.c tests/*.bpf.c)
BPF_OBJS  := $(patsubst %.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst %.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
LIB_SRCS  := $(wildcard userspace/*.c)
LIB_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
LIB       := $(BUILD)/libpinhole.a
EP_SRCS   := $(filter-out endpoint/main.c,$(wildcard endpoint/*.c))
EP_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(EP_SRCS))
EP_LIB    := $(BUILD)/libpinhole-endpoint.a
TEST_SRCS := $(wildcard tests/test_*.c)
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
# Lab tools (tests/tools/*.c): one binary each, linked against the library like a client.
TOOLS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c))

SERVER_SRCS := $(filter-out server/pinholectl.c,$(wildcard server/*.c))
# The access server's modules, without main(): linked into pinhole-server and its tests.
SRV_OBJS    := $(patsubst %.c,$(BUILD)/%.o,$(filter-out server/main.c,$(SERVER_SRCS)))
SRV_LIB     := $(BUILD)/libpinhole-server.a

BINS := $(BUILD)/pinhole-server
ifneq ($(wildcard server/pinholectl.c),)
BINS += $(BUILD)/pinholectl
endif
ifneq ($(wildcard endpoint/main.c),)
BINS += $(BUILD)/pinhole-endpoint
endif
ifneq ($(wildcard bench/load.c),)
BINS += $(BUILD)/pinhole-load
endif

all: $(BINS) $(BPF_OBJS) $(TESTS) $(TOOLS)

# Skeletons are generated before any C file that may include them is compiled.
$(LIB_OBJS) $(EP_OBJS) $(patsubst %.c,$(BUILD)/%.o,$(filter-out %.bpf.c,$(wildcard server/*.c bench/*.c tests/*.c endpoint/*.c))): | $(SKELS)

$(BUILD)/%.bpf.o: %.bpf.c
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$(notdir $*)) > $@

$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(EP_LIB): $(EP_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SRV_LIB): $(SRV_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/pinhole-server: $(BUILD)/server/main.o $(SRV_LIB) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/pinholectl: $(BUILD)/server/pinholectl.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/pinhole-endpoint: $(BUILD)/endpoint/main.o $(EP_LIB) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/pinhole-load: $(patsubst %.c,$(BUILD)/%.o,$(filter-out %.bpf.c,$(wildcard bench/*.c))) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(SRV_LIB) $(EP_LIB) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# Kept (not intermediate): a rebuild relinks only what changed.
.SECONDARY: $(patsubst %,%.o,$(TOOLS))
$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Debian packages the project builds and tests with; installed only when missing.
DEPS := clang llvm libclang-rt-14-dev libbpf-dev bpftool liburing-dev libmnl-dev libcmocka-dev libssl-dev \
        zlib1g-dev libsqlite3-dev libelf-dev linux-libc-dev iproute2 nftables conntrack \
        coturn tshark ethtool jq socat sqlite3 libjansson-dev libmicrohttpd-dev prometheus curl pkg-config systemd man-db groff-base python3 util-linux gnuplot-nox procps psmisc

deps:
	@bash tests/lab/deps.sh $(DEPS)

# The fuzzers always carry ASan + UBSan: the plain suite's smoke run covers them, so a
# SANITIZE=1 suite does not build and run them a second time.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(if $(SAN_RUN),,fuzzers)
	$(Q)$(SAN_RUN) bash tests/run.sh $(BUILD)

unit: all
	$(Q)$(SAN_RUN) bash tests/run.sh $(BUILD) unit

lab: all
	$(Q)$(SAN_RUN) bash tests/run.sh $(BUILD) lab

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash tests/lab/demo.sh $(BUILD)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- fuzz: libFuzzer targets (tests/fuzz/), owned by the fuzz role ----------------------------
# Each target compiles the parser sources it needs straight in, instrumented with ASan + UBSan.
# `make fuzz` runs each for FUZZ_SECONDS and keeps the corpus in $(BUILD)/fuzz/corpus-<target>;
# `make fuzz-smoke` runs each briefly and prints TAP lines.
FUZZ_SECONDS  ?= 120
FUZZ_CC       ?= $(CLANG)
FUZZ_CFLAGS   := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                 -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Wno-unused-parameter \
                 -fno-strict-aliasing -D_GNU_SOURCE -I. -Iuserspace -Ibpf -Iendpoint -Itests/fuzz
FUZZ_LIB_SRCS := userspace/stun.c userspace/access.c userspace/binding.c userspace/nonce.c \
                 userspace/addr.c userspace/log.c
FUZZ_EP_SRCS  := $(filter-out endpoint/main.c,$(wildcard endpoint/*.c)) userspace/nat.c
# The access server core without its I/O (main.c), CLI and HTTP exporter; over a real SQLite store.
FUZZ_SRV_SRCS := $(filter-out server/main.c server/pinholectl.c server/metrics.c, \
                   $(wildcard server/*.c)) userspace/store.c userspace/nat.c \
                 $(wildcard userspace/sessmap.c)
FUZZ_HDRS     := $(wildcard userspace/*.h bpf/*.h endpoint/*.h tests/fuzz/*.h)
FUZZERS       := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-smoke fuzzers

$(BUILD)/fuzz/fuzz_endpoint: FUZZ_EXTRA := $(FUZZ_EP_SRCS)
$(BUILD)/fuzz/fuzz_config: FUZZ_EXTRA := userspace/config.c
$(BUILD)/fuzz/fuzz_config: userspace/config.c
$(BUILD)/fuzz/fuzz_server: FUZZ_EXTRA := $(FUZZ_SRV_SRCS)
$(BUILD)/fuzz/fuzz_server: FUZZ_LIBS := -lsqlite3 -lbpf
$(BUILD)/fuzz/fuzz_server: $(FUZZ_SRV_SRCS) $(wildcard server/*.h)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS) $(FUZZ_EP_SRCS) $(FUZZ_HDRS)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_LIB_SRCS) $(FUZZ_EXTRA) -lcrypto -lz $(FUZZ_LIBS) -o $@

fuzzers: $(FUZZERS)

fuzz: $(FUZZERS)
	$(Q)bash tests/fuzz/run.sh $(BUILD) long $(FUZZ_SECONDS)

fuzz-smoke: $(FUZZERS)
	$(Q)bash tests/fuzz/run.sh $(BUILD) smoke
# --- end fuzz ------------------------------------------------------------------------------

# --- install: `make install` / `make uninstall`, the shared endpoint library, pkg-config ------
# Owned by the install role.  GNU directory variables; DESTDIR stages a package:
#   make install                                   # into /usr/local
#   make PREFIX=/usr DESTDIR=/tmp/pkg install      # staged, SYSCONFDIR becomes /etc
# install records every file it writes and every directory it creates in
# $(PREFIX)/share/pinhole/install-manifest (paths without DESTDIR); uninstall removes
# exactly those, so it never touches files another package put in the same directories.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR     ?= $(PREFIX)/lib/systemd/system
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INST_MANIFEST := $(DATADIR)/pinhole/install-manifest
PINHOLE_VERSION ?= $(shell sed -n 's/^\#define PINHOLE_VERSION "\(.*\)"/\1/p' server/main.c)
EP_SOVERSION := 0
EP_SONAME    := libpinhole-endpoint.so.$(EP_SOVERSION)
EP_SOFILE    := libpinhole-endpoint.so.$(PINHOLE_VERSION)
.PHONY: install uninstall install-paths-force

# The installed endpoint library is self-contained: the endpoint objects plus the generic
# userspace objects they call, compiled -fPIC into $(BUILD)/pic/ (the main build, its
# libpinhole-endpoint.a and every binary stay exactly as they are).  Only ep_* is exported:
# the shared library through a version script, the static one through one relocatable
# object whose other symbols are made local, so an application can have its own stun_*.
EPI_SRCS := $(EP_SRCS) userspace/access.c userspace/addr.c userspace/log.c userspace/nat.c \
            userspace/stun.c
EPI_OBJS := $(patsubst %.c,$(BUILD)/pic/%.o,$(EPI_SRCS))
EPI_LIBS := -lcrypto -lz -lpthread
EPI_SO   := $(BUILD)/pic/$(EP_SOFILE)
EPI_A    := $(BUILD)/pic/libpinhole-endpoint.a
EPI_HDR  := $(BUILD)/include/pinhole/endpoint.h
EPI_PC   := $(BUILD)/pic/pinhole-endpoint.pc
EPI_UNIT := $(BUILD)/pic/pinhole-server.service
EPI_EXAMPLE := $(BUILD)/endpoint/examples/embed

all: $(EPI_SO) $(EPI_A) $(EPI_PC) $(EPI_UNIT) $(EPI_EXAMPLE)

# Without the sanitizers even under SANITIZE=1: applications (and test_install) link the
# installed library with plain cc, which has no sanitizer runtime to offer.
$(BUILD)/pic/%.o: %.c
	$(call msg,CC-PIC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(filter-out $(SAN_FLAGS),$(CFLAGS)) -fPIC -c $< -o $@

$(BUILD)/pic/libpinhole-endpoint.map:
	@mkdir -p $(@D)
	$(Q)printf 'PINHOLE_ENDPOINT_%s {\n\tglobal: ep_*;\n\tlocal: *;\n};\n' $(EP_SOVERSION) > $@

# -z nodelete: the STUN code keeps a pthread key whose destructor lives in this library,
# so it must never be unmapped by dlclose().
$(EPI_SO): $(EPI_OBJS) $(BUILD)/pic/libpinhole-endpoint.map
	$(call msg,LD-SO,$@)
	$(Q)$(CC) $(filter-out $(SAN_FLAGS),$(LDFLAGS)) -shared -Wl,-soname,$(EP_SONAME) -Wl,-z,defs -Wl,-z,nodelete \
		-Wl,--version-script=$(BUILD)/pic/libpinhole-endpoint.map -o $@ $(EPI_OBJS) $(EPI_LIBS)

$(EPI_A): $(EPI_OBJS)
	$(call msg,AR,$@)
	$(Q)$(CC) -r -nostdlib -o $(BUILD)/pic/pinhole-endpoint.r.o $^
	$(Q)objcopy --wildcard --keep-global-symbol='ep_*' $(BUILD)/pic/pinhole-endpoint.r.o \
		$(BUILD)/pic/pinhole-endpoint.o
	$(Q)rm -f $@ && ar rcs $@ $(BUILD)/pic/pinhole-endpoint.o

$(EPI_HDR): endpoint/endpoint.h
	@mkdir -p $(@D)
	$(Q)cp $< $@

# The paths baked into the unit and the .pc file: rewritten only when they change, so a
# `make PREFIX=/usr install` after a `make` regenerates exactly those two files.
$(BUILD)/pic/install-paths: install-paths-force
	@mkdir -p $(@D)
	$(Q)echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(SBINDIR) $(SYSCONFDIR) $(PINHOLE_VERSION)' | \
		cmp -s - $@ || echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(SBINDIR) $(SYSCONFDIR) $(PINHOLE_VERSION)' > $@

$(EPI_PC): endpoint/pinhole-endpoint.pc.in $(BUILD)/pic/install-paths
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' \
		-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
		-e 's|@VERSION@|$(PINHOLE_VERSION)|g' $< > $@

$(EPI_UNIT): server/pinhole-server.service.in $(BUILD)/pic/install-paths
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@

# The embedding example, built as an application would: only the installed header's
# directory on the include path, strict ISO C plus POSIX, the self-contained static library.
$(EPI_EXAMPLE): endpoint/examples/embed.c $(EPI_HDR) $(EPI_A)
	$(call msg,CC-EX,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -I$(BUILD)/include $< $(EPI_A) \
		$(EPI_LIBS) -o $@

# What goes where: "SOURCE MODE DESTINATION" triples.  The server loads its XDP program from
# the skeleton embedded in the binary (userspace/xdp.c), so the .bpf.o is installed for
# operators only: bpftool prog load/btf dump, or comparing against what is attached.
INST_SPECS := \
	$(BUILD)/pinhole-server 0755 $(SBINDIR)/pinhole-server \
	$(BUILD)/pinholectl 0755 $(SBINDIR)/pinholectl \
	$(BUILD)/pinhole-endpoint 0755 $(BINDIR)/pinhole-endpoint \
	$(BUILD)/pinhole-load 0755 $(BINDIR)/pinhole-load \
	$(BUILD)/bpf/pinhole.bpf.o 0644 $(LIBDIR)/pinhole/pinhole.bpf.o \
	server/pinhole-server.8 0644 $(MANDIR)/man8/pinhole-server.8 \
	server/pinholectl.8 0644 $(MANDIR)/man8/pinholectl.8 \
	endpoint/pinhole-endpoint.1 0644 $(MANDIR)/man1/pinhole-endpoint.1 \
	bench/pinhole-load.1 0644 $(MANDIR)/man1/pinhole-load.1 \
	server/pinhole.conf.example 0644 $(SYSCONFDIR)/pinhole/pinhole.conf.example \
	$(EPI_UNIT) 0644 $(UNITDIR)/pinhole-server.service \
	$(EPI_HDR) 0644 $(INCLUDEDIR)/pinhole/endpoint.h \
	$(EPI_A) 0644 $(LIBDIR)/libpinhole-endpoint.a \
	$(EPI_SO) 0755 $(LIBDIR)/$(EP_SOFILE) \
	$(EPI_PC) 0644 $(PKGCONFIGDIR)/pinhole-endpoint.pc
INST_SRCS := $(foreach i,$(shell seq 1 3 $(words $(INST_SPECS))),$(word $(i),$(INST_SPECS)))
# Symbolic links: "TARGET LINK" pairs (the soname for the loader, the bare name for -l).
INST_LINKS := $(EP_SOFILE) $(LIBDIR)/$(EP_SONAME) $(EP_SONAME) $(LIBDIR)/libpinhole-endpoint.so

# The whole install is one shell script: mkd creates a directory and its missing parents,
# noting each one it created; the manifest keeps the directories an earlier install created.
install: $(INST_SRCS)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)set -e; D='$(DESTDIR)'; M="$$D$(INST_MANIFEST)"; new=$$(mktemp); \
	mkd() { { [ "$$1" = / ] || [ -d "$$D$$1" ]; } && return 0; mkd "$$(dirname "$$1")"; \
		mkdir "$$D$$1"; echo "d $$1" >> "$$new"; }; \
	[ -z "$$D" ] || mkdir -p "$$D"; \
	if [ -f "$$M" ]; then grep '^d ' "$$M" >> "$$new" || true; fi; \
	set -- $(INST_SPECS); \
	while [ $$# -gt 0 ]; do \
		mkd "$$(dirname "$$3")"; install -m "$$2" "$$1" "$$D$$3"; echo "f $$3" >> "$$new"; \
		shift 3; \
	done; \
	set -- $(INST_LINKS); \
	while [ $$# -gt 0 ]; do ln -sfn "$$1" "$$D$$2"; echo "f $$2" >> "$$new"; shift 2; done; \
	mkd "$$(dirname '$(INST_MANIFEST)')"; echo "f $(INST_MANIFEST)" >> "$$new"; \
	sort -u "$$new" > "$$M"; rm -f "$$new"; chmod 0644 "$$M"

# Files first, then the directories install created, deepest first, and only when empty
# (a config an operator added keeps its directory).  Without a manifest: what install
# would write, no directories.
uninstall:
	$(call msg,UNINST,$(DESTDIR)$(PREFIX))
	$(Q)set -e; D='$(DESTDIR)'; M="$$D$(INST_MANIFEST)"; list=$$(mktemp); \
	if [ -f "$$M" ]; then cp "$$M" "$$list"; else \
		set -- $(INST_SPECS); \
		while [ $$# -gt 0 ]; do echo "f $$3" >> "$$list"; shift 3; done; \
		set -- $(INST_LINKS); \
		while [ $$# -gt 0 ]; do echo "f $$2" >> "$$list"; shift 2; done; \
	fi; \
	sed -n 's/^f //p' "$$list" | while IFS= read -r f; do rm -f "$$D$$f"; done; \
	sed -n 's/^d //p' "$$list" | sort -r | while IFS= read -r d; do \
		rmdir "$$D$$d" 2>/dev/null || true; done; \
	rm -f "$$list"
# --- end install -------------------------------------------------------------------------------
