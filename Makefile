# SPDX-License-Identifier: MIT
# pinhole: one Makefile, output in build/.  `make V=1` shows every command.

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
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
LDLIBS   += -lbpf -luring -lmnl -lcrypto -lz -lsqlite3 -lelf -ljansson
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Werror -Wno-unused-parameter \
              -I$(ARCH_INC) -Ibpf -MMD -MP

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
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

all: $(BINS) $(BPF_OBJS) $(TESTS)

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

# Debian packages the project builds and tests with; installed only when missing.
DEPS := clang llvm libclang-rt-14-dev libbpf-dev bpftool liburing-dev libmnl-dev libcmocka-dev libssl-dev \
        zlib1g-dev libsqlite3-dev libelf-dev linux-libc-dev iproute2 nftables conntrack \
        coturn tshark ethtool jq socat sqlite3 libjansson-dev python3 util-linux gnuplot-nox procps psmisc

deps:
	@bash tests/lab/deps.sh $(DEPS)

test: deps
	$(Q)$(MAKE) --no-print-directory all fuzzers
	$(Q)bash tests/run.sh $(BUILD)

unit: all
	$(Q)bash tests/run.sh $(BUILD) unit

lab: all
	$(Q)bash tests/run.sh $(BUILD) lab

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
FUZZ_HDRS     := $(wildcard userspace/*.h bpf/*.h endpoint/*.h tests/fuzz/*.h)
FUZZERS       := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PHONY: fuzz fuzz-smoke fuzzers

$(BUILD)/fuzz/fuzz_endpoint: FUZZ_EXTRA := $(FUZZ_EP_SRCS)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS) $(FUZZ_EP_SRCS) $(FUZZ_HDRS)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_LIB_SRCS) $(FUZZ_EXTRA) -lcrypto -lz -o $@

fuzzers: $(FUZZERS)

fuzz: $(FUZZERS)
	$(Q)bash tests/fuzz/run.sh $(BUILD) long $(FUZZ_SECONDS)

fuzz-smoke: $(FUZZERS)
	$(Q)bash tests/fuzz/run.sh $(BUILD) smoke
# --- end fuzz ------------------------------------------------------------------------------
