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

VMM_LIBS   := -ljansson -lpthread
AGENT_LIBS := -ljansson -lpthread -lutil
LIB_LIBS   := -ljansson -lsqlite3 -larchive -lpthread -ldl

PROGRAMS := $(BUILD)/kiln-vmm $(BUILD)/kiln $(BUILD)/libkiln.so $(BUILD)/libkiln.a
ifneq ($(SAN),1)
PROGRAMS += $(BUILD)/kiln-agent   # static: no sanitizer runtime
endif

.PHONY: all unit test demo check-format format clean guest kernel image bench fuzz
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

$(BUILD)/kiln-vmm: $(BUILD)/obj/src/vmm/main.o $(BUILD)/libvmm.a $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)

$(BUILD)/kiln-agent: $(BUILD)/obj/src/agent/main.o $(BUILD)/libagent.a $(BUILD)/libcommon.a
	$(CC) -static $(LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(BUILD)/libkiln.a: $(LIB_OBJS) $(COMMON_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libkiln.so: $(LIB_OBJS) $(COMMON_OBJS)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libkiln.so.0 -o $@ $^ $(LIB_LIBS)

$(BUILD)/kiln: $(CLI_OBJS) $(BUILD)/libkiln.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

# Unit tests link whatever they need from the static archives.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvmm.a $(BUILD)/libagent.a $(BUILD)/libkiln.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libvmm.a $(BUILD)/libagent.a \
		$(BUILD)/libkiln.a $(BUILD)/libcommon.a $(LDFLAGS) -lcmocka $(LIB_LIBS) -lutil

unit: $(TEST_BINS)
	@tests/run-unit.sh $(TEST_BINS)

# The README's test command: dependencies, build, sanitized unit tests,
# integration tests on KVM.
test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all $(patsubst build/%,build/san/%,$(TEST_BINS))
	@tests/run-all.sh

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

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')
check-format:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
