# kiln — build.  `make` builds the programs at fixed paths under build/;
# `make SAN=1` builds the same under build/san with ASan+UBSan (tests).
# See README.md for `make demo` and `make test`.

CC      ?= cc
SAN     ?= 0
BUILD   ?= build
ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -fPIC -D_GNU_SOURCE -Iinclude -Isrc $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
DEPFLAGS = -MMD -MP

VMM_SRCS    := $(shell find src/vmm -name '*.c' ! -name main.c | sort)
AGENT_SRCS  := $(shell find src/agent -name '*.c' ! -name main.c | sort)
LIB_SRCS    := $(shell find src/lib -name '*.c' | sort)
CLI_SRCS    := $(shell find src/cli -name '*.c' | sort)
COMMON_SRCS := $(shell find src/common -name '*.c' | sort)
TEST_SRCS   := $(sort $(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

VMM_OBJS    := $(call obj,$(VMM_SRCS))
AGENT_OBJS  := $(call obj,$(AGENT_SRCS))
LIB_OBJS    := $(call obj,$(LIB_SRCS))
CLI_OBJS    := $(call obj,$(CLI_SRCS))
COMMON_OBJS := $(call obj,$(COMMON_SRCS))
TEST_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

VMM_LIBS   := -ljansson -lseccomp -lpthread
AGENT_LIBS := -ljansson -lpthread -lutil
LIB_LIBS   := -ljansson -lsqlite3 -larchive -lmnl -lnftables -lpthread -ldl

PROGRAMS := $(BUILD)/kiln-vmm $(BUILD)/kiln $(BUILD)/libkiln.so $(BUILD)/libkiln.a
PROGRAMS += $(BUILD)/kiln-dns   # a sandbox's resolver (docs/NETWORK.md)
ifneq ($(SAN),1)
PROGRAMS += $(BUILD)/kiln-agent   # static: no sanitizer runtime
endif

.PHONY: all unit test demo check-format format clean guest kernel image bench bench-restore bench-agent bench-jail bench-net fuzz
all: $(PROGRAMS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/libvmm.a: $(VMM_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libagent.a: $(AGENT_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@rm -f $@; ar rcs $@ $^

# Static (not under SAN): the jail's root then needs no libraries.
VMM_STATIC := $(if $(filter 1,$(SAN)),,-static)
$(BUILD)/kiln-vmm: $(BUILD)/obj/src/vmm/main.o $(BUILD)/libvmm.a $(BUILD)/libcommon.a
	$(CC) $(VMM_STATIC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)

# Test build with the jail probes of src/vmm/main.c (tests/integration/jail.sh).
$(BUILD)/kiln-vmm-jailtest: src/vmm/main.c $(BUILD)/libvmm.a $(BUILD)/libcommon.a
	$(CC) $(CFLAGS) -DKILN_JAIL_TEST $(VMM_STATIC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)

$(BUILD)/kiln-agent: $(BUILD)/obj/src/agent/main.o $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(CC) -static $(LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(BUILD)/libkiln.a: $(LIB_OBJS) $(COMMON_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libkiln.so: $(LIB_OBJS) $(COMMON_OBJS)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libkiln.so.0 -o $@ $^ $(LIB_LIBS)
	@ln -sf libkiln.so $(BUILD)/libkiln.so.0

$(BUILD)/kiln: $(CLI_OBJS) $(BUILD)/libkiln.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BUILD)/kiln-dns: $(BUILD)/obj/src/dns/main.o $(BUILD)/libkiln.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

# Unit tests link whatever they need from the static archives.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvmm.a $(BUILD)/libagent.a $(BUILD)/libkiln.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libvmm.a $(BUILD)/libagent.a \
		$(BUILD)/libkiln.a $(BUILD)/libcommon.a $(LDFLAGS) -lcmocka $(LIB_LIBS) -lseccomp -lutil

# Test plugins (dlopen'ed by test_lib_hooks): one good, one built for
# another plugin ABI.  They need no libkiln symbols.  In plugins/, not next
# to the test binaries: tests/run-all.sh runs every tests/test_* file.
TEST_PLUGINS := $(BUILD)/tests/plugins/test_plugin.so $(BUILD)/tests/plugins/test_plugin_badabi.so
$(BUILD)/tests/plugins/test_plugin.so: tests/unit/plugins/test_plugin.c include/kiln.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $< $(LDFLAGS)
$(BUILD)/tests/plugins/test_plugin_badabi.so: tests/unit/plugins/test_plugin.c include/kiln.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTEST_PLUGIN_BAD_ABI -shared -o $@ $< $(LDFLAGS)
$(BUILD)/tests/test_lib_hooks: $(TEST_PLUGINS)

unit: $(TEST_BINS)
	@tests/run-unit.sh $(TEST_BINS)

# The README's test command: dependencies, build, sanitized unit tests,
# integration tests on KVM.
test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@guest/kernel/build.sh >/dev/null
	@guest/images/base/build.sh $(BUILD)/kiln-agent >/dev/null
	@$(MAKE) --no-print-directory SAN=1 all $(patsubst build/%,build/san/%,$(TEST_BINS))
	@KILN_REQUIRE_KVM_TESTS=1 tests/run-all.sh

guest: kernel image
kernel:
	@guest/kernel/build.sh
image: $(BUILD)/kiln-agent
	@guest/images/base/build.sh

demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: all
	@bench/boot.sh
bench-restore: all
	@bench/restore.sh
# What the kiln-vmm jail adds to a restore (root; this host's /dev/kvm).
bench-jail: all
	@bench/jail.sh
# TCP guest -> test host throughput, connection latency, --bandwidth (root).
bench-net: all
	@bench/net.sh
# Agent round trips and transfer throughput against a restored sandbox;
# needs /dev/kvm (else: tests/harness/run-in-l1.sh -- bench/agent.sh).
$(BUILD)/bench/agent_rtt: bench/agent_rtt.c $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkiln.a $(LDFLAGS) $(LIB_LIBS)
bench-agent: all $(BUILD)/bench/agent_rtt
	@bench/agent.sh

# libFuzzer targets (clang), each run for FUZZ_SECONDS; `make test` runs them
# briefly, run longer by hand: make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build/fuzz/fuzz_virtq: tests/fuzz/fuzz_virtq.c src/vmm/virtq.c src/vmm/guest_mem.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^
build/fuzz/fuzz_vsock: tests/fuzz/fuzz_vsock.c src/vmm/dev/vsock_conn.c src/vmm/dev/vsock_ring.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^
build/fuzz/fuzz_proto: tests/fuzz/fuzz_proto.c $(COMMON_SRCS) $(AGENT_SRCS) src/lib/agent_client.c src/lib/agent_exec.c src/lib/agent_exec_feed.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ -ljansson -lutil
build/fuzz/fuzz_http: tests/fuzz/fuzz_http.c src/vmm/http.c src/vmm/api_routes.c src/vmm/api_config.c src/vmm/config.c src/vmm/config_json.c src/vmm/config_drive.c src/vmm/config_net.c src/vmm/cpuid.c src/common/mac.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ -ljansson
build/fuzz/fuzz_tar: tests/fuzz/fuzz_tar.c src/agent/tar.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^
build/fuzz/fuzz_dns: tests/fuzz/fuzz_dns.c src/lib/dns_msg.c src/lib/dns_name.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^
FUZZERS := build/fuzz/fuzz_virtq build/fuzz/fuzz_vsock build/fuzz/fuzz_proto build/fuzz/fuzz_http build/fuzz/fuzz_tar build/fuzz/fuzz_dns
fuzz: $(FUZZERS)
	@tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZERS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')
check-format:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
