# vbridge top-level build: the daemon, its tools and tests (and, via Kbuild, the kernel module).

CC ?= gcc
BUILD ?= build
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Iinclude -pthread -MMD -MP
LDLIBS := -luring -pthread

ifeq ($(SANITIZE),1)
BUILD := build-san
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS := $(CFLAGS_BASE) $(EXTRA_CFLAGS)

VERSION := 0.1.0$(shell git describe --always --dirty 2>/dev/null | sed 's/^/+g/')

# The daemon: everything in userspace/ except main.c is the core the tests link too.
CORE_SRCS := $(filter-out userspace/main.c,$(wildcard userspace/*.c))
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o)
# The vhost-user front-end library used by the test driver and the benchmark.
FRONT_SRCS := $(wildcard tools/frontend/*.c)
FRONT_OBJS := $(FRONT_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
VHOST_SRCS := $(wildcard tests/vhost/*.c)
VHOST_BINS := $(VHOST_SRCS:tests/vhost/%.c=$(BUILD)/tests/vhost/%)
INFLIGHT_SRCS := $(wildcard tools/inflight/*.c)
INFLIGHT_OBJS := $(INFLIGHT_SRCS:%.c=$(BUILD)/%.o)
# Programs the guest tests copy into their guests: static, and never sanitized.
GUEST_TOOL_SRCS := $(wildcard tests/guest/tools/*.c)
GUEST_TOOL_BINS := $(GUEST_TOOL_SRCS:tests/guest/tools/%.c=$(BUILD)/tests/guest/%)

.PHONY: all deps check demo clean
# Keep the objects of the libraries that test programs link, or every link rebuilds them.
.SECONDARY:
all: $(BUILD)/vbridge $(UNIT_BINS) $(VHOST_BINS) $(GUEST_TOOL_BINS) $(BUILD)/vbridge-inflight \
	$(BUILD)/tests/unit/inflight_tool_test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/userspace/main.o: CFLAGS += -DVBRIDGE_VERSION='"$(VERSION)"'

$(BUILD)/vbridge: $(BUILD)/userspace/main.o $(CORE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vbridge-inflight: $(INFLIGHT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

# A shell test; tests/run runs the executables under $(BUILD)/tests/unit.
$(BUILD)/tests/unit/inflight_tool_test: tests/unit/inflight_tool_test.sh $(BUILD)/vbridge-inflight
	@mkdir -p $(dir $@)
	install -m 755 $< $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(CORE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/vhost/%: $(BUILD)/tests/vhost/%.o $(FRONT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/vhost/%.o $(BUILD)/tools/frontend/%.o: CFLAGS += -Itools/frontend

$(BUILD)/tests/guest/%: tests/guest/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -static -pthread -o $@ $<

deps:
	tools/install-deps

# Every test, in one run; the runner prints "N passed, N failed" and fails on any failure.
check: deps all
	BUILD=$(BUILD) tests/run

demo: deps $(BUILD)/vbridge
	BUILD=$(BUILD) tools/demo

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
