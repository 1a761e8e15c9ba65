# vbridge top-level build: the daemon, its tools and tests (and, via Kbuild, the kernel module).

CC ?= gcc
BUILD ?= build
# Where Debian's libnl-genl-3-dev puts its headers. A fixed path, not pkg-config: make would run
# pkg-config while parsing, before `make demo` or `make check` has installed libnl (make deps).
LIBNL_CFLAGS ?= -I/usr/include/libnl3
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Iinclude -Iuserspace -pthread -MMD -MP $(LIBNL_CFLAGS)
# Programs the guest tests copy into their guests are static and never sanitized, whatever the build.
STATIC_CFLAGS := $(CFLAGS_BASE) -Itools/frontend
# libnl-genl-3: the VDUSE front door attaches its device to the vDPA bus over generic netlink.
# librbd and librados (the rbd engine) have no pkg-config file in Debian, and no static library:
# the rbd engine is a plugin the daemon loads when asked for it (userspace/engine/engine.c), and
# the static daemon the guest tests copy into their guests is built without plugins.
RBD_LIBS := -lrbd -lrados
STATIC_LDLIBS := -luring -lnl-genl-3 -lnl-3 -pthread
LDLIBS := $(STATIC_LDLIBS)
# Where an installed daemon finds its plugins when they are not beside it.
PLUGIN_DIR ?= /usr/local/lib/vbridge

ifeq ($(SANITIZE),1)
BUILD := build-san
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS := $(CFLAGS_BASE) $(EXTRA_CFLAGS)

VERSION := 0.1.0$(shell git describe --always --dirty 2>/dev/null | sed 's/^/+g/')

# The daemon: main.c and a folder per layer below it (Documentation/design.rst); the layers
# are what the tests link too.
CORE_SRCS := $(filter-out userspace/engine/rbd.c,$(wildcard userspace/*/*.c))
CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/%.o)
# The vhost-user front-end library used by the test driver and the benchmark.
FRONT_SRCS := $(wildcard tools/frontend/*.c)
FRONT_OBJS := $(FRONT_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
SCRIPT_UNIT_TESTS := $(addprefix $(BUILD)/tests/unit/,docs_test checkpatch_test build_test run_test \
	migration_doc_test layers_test engine_plugin_test rbd_bench_test)
VHOST_SRCS := $(wildcard tests/vhost/*.c)
VHOST_BINS := $(VHOST_SRCS:tests/vhost/%.c=$(BUILD)/tests/vhost/%)
# The load generator vbridge-bench (tools/bench also holds the other benchmarks).
BENCH_SRCS := tools/bench/vbridge-bench.c tools/bench/worker.c tools/bench/hist.c
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/%.o)
INFLIGHT_SRCS := $(wildcard tools/inflight/*.c)
INFLIGHT_OBJS := $(INFLIGHT_SRCS:%.c=$(BUILD)/%.o)
# Programs the guest tests copy into their guests: static, and never sanitized. The daemon
# itself and programs built on the front-end library get their own static objects.
GUEST_TOOL_SRCS := $(wildcard tests/guest/tools/*.c)
GUEST_FRONT_TOOLS := suspend_slowdev writethrough ioctl_count
GUEST_TOOL_BINS := $(GUEST_TOOL_SRCS:tests/guest/tools/%.c=$(BUILD)/tests/guest/%) \
	$(BUILD)/tests/guest/vbridge $(BUILD)/tests/kernel/vbabort-test \
	$(BUILD)/tests/guest/vbridge-suspend-bench
STATIC_CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/static/%.o)
STATIC_FRONT_OBJS := $(FRONT_SRCS:%.c=$(BUILD)/static/%.o)
# Fuzz targets (tests/fuzz/fuzz_<name>.c); their corpora are replayed by fuzz_replay_<name> in every build.
FUZZ_NAMES := vu_message chain blk inflight
FUZZ_REPLAY_BINS := $(FUZZ_NAMES:%=$(BUILD)/tests/unit/fuzz_replay_%)

.PHONY: all deps check demo clean fuzz bench bench-qsd bench-poll bench-suspend bench-vduse \
	bench-kabort-engine bench-migration bench-rbd modules \
	checkpatch dkms-source bench-vbabort profile-vbabort
# Keep the objects of the libraries that test programs link, or every link rebuilds them.
.SECONDARY:
all: $(BUILD)/vbridge $(BUILD)/vbridge-engine-rbd.so $(UNIT_BINS) $(VHOST_BINS) $(BUILD)/tests/vhost/variants \
	$(GUEST_TOOL_BINS) $(BUILD)/vbridge-inflight \
	$(BUILD)/vbridge-suspend-bench $(BUILD)/vbridge-bench $(BUILD)/tests/vhost/bench_smoke \
	$(BUILD)/tests/vhost/suspend_bench_smoke \
	$(BUILD)/tests/unit/inflight_tool_test $(SCRIPT_UNIT_TESTS) $(FUZZ_REPLAY_BINS) $(BUILD)/slowfs

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/userspace/main.o: CFLAGS += -DVBRIDGE_VERSION='"$(VERSION)"'

$(BUILD)/userspace/engine/engine.o: CFLAGS += -DVB_PLUGIN_DIR='"$(PLUGIN_DIR)"'

# -rdynamic: the plugins call the daemon's own functions.
$(BUILD)/vbridge: $(BUILD)/userspace/main.o $(CORE_OBJS) | $(BUILD)/vbridge-engine-rbd.so
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/vbridge-engine-rbd.so: $(BUILD)/pic/userspace/engine/rbd.o
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(RBD_LIBS)

$(BUILD)/vbridge-suspend-bench: $(BUILD)/tools/bench/suspend_bench.o $(FRONT_OBJS) \
		$(BUILD)/userspace/util/fence.o $(BUILD)/userspace/util/log.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The tests' slow disk (tests/lib/slowfs.c), a FUSE file system; its flags are asked for when it
# is compiled, after `make deps` may have installed libfuse3-dev.
$(BUILD)/tests/lib/slowfs.o: tests/lib/slowfs.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $$(pkg-config --cflags fuse3) -c -o $@ $<

$(BUILD)/slowfs: $(BUILD)/tests/lib/slowfs.o
	$(CC) $(LDFLAGS) -o $@ $^ -lfuse3 -pthread

$(BUILD)/vbridge-inflight: $(INFLIGHT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/vbridge-bench: $(BENCH_OBJS) $(FRONT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A shell test; tests/run runs the executables under $(BUILD)/tests/unit.
$(BUILD)/tests/unit/inflight_tool_test: tests/unit/inflight_tool_test.sh $(BUILD)/vbridge-inflight
	@mkdir -p $(dir $@)
	install -m 755 $< $@

# The benchmark's smoke test, run by tests/run with the vhost tests.
$(BUILD)/tests/vhost/bench_smoke: tests/vhost/bench_smoke.sh $(BUILD)/vbridge-bench $(BUILD)/vbridge
	@mkdir -p $(dir $@)
	install -m 755 $< $@

# The suspend bench's options for merged tables, on the slow disk.
$(BUILD)/tests/vhost/suspend_bench_smoke: tests/vhost/suspend_bench_smoke.sh \
		$(BUILD)/vbridge-suspend-bench $(BUILD)/vbridge $(BUILD)/slowfs
	@mkdir -p $(dir $@)
	install -m 755 $< $@

# The data-path programs again, with --poll-us and the delay engine (VU_DAEMON_ARGS).
$(BUILD)/tests/vhost/variants: tests/vhost/variants.sh
	@mkdir -p $(dir $@)
	install -m 755 $< $@

# Shell tests that need nothing built; tests/run runs them from $(BUILD)/tests/unit like the C ones.
$(SCRIPT_UNIT_TESTS): $(BUILD)/tests/unit/%: tests/unit/%.sh
	@mkdir -p $(dir $@)
	install -m 755 $< $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(CORE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The benchmark's histogram is not part of the daemon.
$(BUILD)/tests/unit/bench_hist_test: $(BUILD)/tests/unit/bench_hist_test.o $(BUILD)/tools/bench/hist.o
	$(CC) $(LDFLAGS) -o $@ $^

# A fuzz target with a main() that replays its corpus as TAP (tests/fuzz/replay.c).
$(BUILD)/tests/unit/fuzz_replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(CORE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/fuzz/replay.o: CFLAGS += -DFUZZ_CORPUS_ROOT='"$(CURDIR)/tests/fuzz/corpus"'

$(BUILD)/tests/vhost/%: $(BUILD)/tests/vhost/%.o $(FRONT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/vhost/%.o $(BUILD)/tools/frontend/%.o $(BUILD)/tools/bench/%.o: CFLAGS += -Itools/frontend

# Tests of daemon pieces on the slow disk link those pieces too.
$(BUILD)/tests/vhost/fence_kill: $(BUILD)/userspace/util/fence.o $(BUILD)/userspace/util/log.o
$(BUILD)/tests/vhost/submit_block: $(BUILD)/userspace/engine/submit_watch.o $(BUILD)/userspace/util/log.o
$(BUILD)/tests/vhost/fence_suspend: $(BUILD)/userspace/util/fence.o $(BUILD)/userspace/util/log.o
$(BUILD)/tests/vhost/buffered_suspend: $(BUILD)/userspace/util/fence.o $(BUILD)/userspace/util/log.o

GUEST_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -static -pthread

$(BUILD)/tests/vhost/syscall_filter.o: CFLAGS += -DVBRIDGE_SRC='"$(CURDIR)"'
$(BUILD)/tests/vhost/rbd.o: CFLAGS += -DVBRIDGE_SRC='"$(CURDIR)"'
# The rbd test checks the image through a librbd handle of its own.
$(BUILD)/tests/vhost/rbd: LDLIBS += $(RBD_LIBS)
$(BUILD)/tools/frontend/vu_slowfs.o: CFLAGS += -DVBRIDGE_SRC='"$(CURDIR)"'

$(BUILD)/tests/guest/%: tests/guest/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -o $@ $<

# The vbabort module's checks, run inside the guest by tests/guest/vbabort.sh.
$(BUILD)/tests/kernel/vbabort-test: tests/kernel/vbabort_test.c include/uapi/linux/vbabort.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -Iinclude/uapi -o $@ $< -luring

$(BUILD)/static/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(STATIC_CFLAGS) -c -o $@ $<

$(BUILD)/static/userspace/main.o: STATIC_CFLAGS += -DVBRIDGE_VERSION='"$(VERSION)"'
$(BUILD)/static/userspace/engine/engine.o: STATIC_CFLAGS += -DVB_NO_PLUGINS

$(BUILD)/tests/guest/vbridge: $(BUILD)/static/userspace/main.o $(STATIC_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^ $(STATIC_LDLIBS)

$(GUEST_FRONT_TOOLS:%=$(BUILD)/tests/guest/%): $(BUILD)/tests/guest/%: \
		$(BUILD)/static/tests/guest/tools/%.o $(STATIC_FRONT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^ $(STATIC_LDLIBS)

# The suspend bench for the guest rows of make bench-suspend (tools/bench/suspend_guest.sh).
$(BUILD)/tests/guest/vbridge-suspend-bench: $(BUILD)/static/tools/bench/suspend_bench.o \
		$(STATIC_FRONT_OBJS) $(BUILD)/static/userspace/util/fence.o \
		$(BUILD)/static/userspace/util/log.o
	@mkdir -p $(dir $@)
	$(CC) -static -o $@ $^ $(STATIC_LDLIBS)

deps:
	tools/install-deps

# vbabort against io_uring on null_blk, and abort latency, in a TCG guest (Documentation/vbabort.rst).
$(BUILD)/tools/bench/vbabort-bench: tools/bench/vbabort_bench.c include/uapi/linux/vbabort.h
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -Iinclude/uapi -o $@ $< -luring

bench-vbabort: deps modules $(BUILD)/tools/bench/vbabort-bench
	BUILD=$(BUILD) tools/bench/vbabort.sh

# Where a vbabort and an io_uring request spend their time (ftrace function_graph in the guest).
profile-vbabort: deps modules $(BUILD)/tools/bench/vbabort-bench
	BUILD=$(BUILD) tools/bench/vbabort-profile.sh

# The vbabort kernel module (Kbuild), built for the guest kernel the tests boot;
# the kernel's own build warns through W=1 and fails on warnings here.
KDIR ?= /usr/src/linux-headers-6.12.95+deb12-amd64
modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 KCFLAGS=-Werror modules

checkpatch:
	tools/checkpatch

# What DKMS needs, in the folder `dkms add` takes (Documentation/vbabort.rst, "Loading").
DKMS_SRC ?= /usr/src/vbabort-0.1.0
dkms-source:
	mkdir -p $(DKMS_SRC)/kernel $(DKMS_SRC)/include/uapi/linux
	cp Kbuild dkms.conf $(DKMS_SRC)/
	cp kernel/*.c $(DKMS_SRC)/kernel/
	cp include/uapi/linux/vbabort.h $(DKMS_SRC)/include/uapi/linux/

# Every test, in one run; the runner prints "N passed, N failed, N skipped" and fails on any
# failure or unlisted skip. Builds only after deps has run, even under -j.
check: deps
	$(MAKE) all modules
	BUILD=$(BUILD) tests/run

demo: deps
	$(MAKE) $(BUILD)/vbridge
	BUILD=$(BUILD) tools/demo

# Benchmarks print their results; targets are outputs to read, never pass/fail. One after
# the other, even under -j: they measure the same CPUs.
bench:
	$(MAKE) bench-qsd
	$(MAKE) bench-suspend
	$(MAKE) bench-vbabort
	$(MAKE) bench-vduse
	$(MAKE) bench-kabort-engine
	$(MAKE) bench-migration
	$(MAKE) bench-rbd

# vbridge against qemu-storage-daemon (Documentation/benchmarks.rst): prints the table, rewrites
# that file and its plot. BENCH_TIME=seconds per measurement (default 3), more in run-bench.
bench-qsd: deps $(BUILD)/vbridge $(BUILD)/vbridge-bench
	BUILD=$(BUILD) tools/bench/run-bench

# Depth-1 rows with adaptive polling off and on against qemu-storage-daemon, repeated, with the
# daemons' context switches and system calls per request (Documentation/benchmarks.rst).
bench-poll: deps $(BUILD)/vbridge $(BUILD)/vbridge-bench
	BUILD=$(BUILD) tools/bench/poll_bench.sh

# Documentation/suspend.rst includes the table of the last run: the host's rows on the slow FUSE
# disk, then the guest's on dm-delay (kabort and uring engines) added to the same table.
bench-suspend: deps modules $(BUILD)/vbridge $(BUILD)/vbridge-suspend-bench $(BUILD)/slowfs \
		$(BUILD)/tests/guest/vbridge $(BUILD)/tests/guest/vbridge-suspend-bench
	BUILD=$(BUILD) tools/bench/suspend_guest.sh >$(BUILD)/suspend-guest-rows.txt
	BUILD=$(BUILD) $(BUILD)/vbridge-suspend-bench --add-rows $(BUILD)/suspend-guest-rows.txt \
		>$(BUILD)/suspend-bench.txt
	cat $(BUILD)/suspend-bench.txt
	cp $(BUILD)/suspend-bench.txt Documentation/suspend-bench.txt

# Documentation/vduse.rst includes the table of the last run: vbridge vs qemu-storage-daemon in a guest.
bench-vduse: deps $(BUILD)/tests/guest/vbridge $(BUILD)/tests/guest/blkbench
	BUILD=$(BUILD) tools/bench/vduse_bench.sh | tee $(BUILD)/vduse-bench.txt
	cp $(BUILD)/vduse-bench.txt Documentation/vduse-bench.txt

# Documentation/vbabort.rst includes the table of the last run: vbridge's kabort engine against
# its io_uring engine on null_blk, in a guest, through the VDUSE front door.
bench-kabort-engine: deps modules $(BUILD)/tests/guest/vbridge $(BUILD)/tests/guest/blkbench
	BUILD=$(BUILD) tools/bench/vduse_bench.sh --kabort | tee $(BUILD)/kabort-engine-bench.txt
	cp $(BUILD)/kabort-engine-bench.txt Documentation/kabort-engine-bench.txt

# Documentation/migration.rst and benchmarks.rst include the table of the last run: migration
# downtime against storage latency on QEMU 11, draining and with inflight-migration=on; the plot
# goes to Documentation/migration-bench.png.
bench-migration: deps $(BUILD)/vbridge $(BUILD)/tests/guest/tagwrite $(BUILD)/slowfs
	BUILD=$(BUILD) tools/bench/migration_bench.sh | tee $(BUILD)/migration-bench.txt
	cp $(BUILD)/migration-bench.txt Documentation/migration-bench.txt

# vbridge --engine rbd against qemu-storage-daemon driver=rbd on the tests' throw-away
# cluster, and its suspension there (Documentation/rbd.rst): prints the tables and writes
# Documentation/rbd-bench.txt.
bench-rbd: deps $(BUILD)/vbridge $(BUILD)/vbridge-engine-rbd.so $(BUILD)/vbridge-bench \
		$(BUILD)/vbridge-suspend-bench
	BUILD=$(BUILD) tools/bench/rbd_bench.sh

# libFuzzer (clang): the core and each target instrumented in build-fuzz/; `make fuzz` runs
# every target FUZZ_SECONDS on its seeds, keeping what it finds in FUZZ_WORK (git-ignored).
FUZZ_BUILD := build-fuzz
FUZZ_CC := clang
# Alignment reports can be suppressed (tests/fuzz/known.supp) so a known, unfixed one does not stop a run.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize-recover=alignment \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := $(CFLAGS_BASE) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_CORE_OBJS := $(CORE_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_SECONDS ?= 60
FUZZ_WORK ?= .cache/fuzz
# Known, unfixed findings can be kept out of a run's way (Documentation/fuzzing.rst).
FUZZ_ENV := UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=tests/fuzz/known.supp

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '*' >$(FUZZ_BUILD)/.gitignore
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BINS): $(FUZZ_BUILD)/%: $(FUZZ_BUILD)/tests/fuzz/%.o $(FUZZ_CORE_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# The corpus's repro-* files (findings, maybe not fixed yet) are replayed by `make check`, not fuzzed.
fuzz: deps $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_NAMES:%=fuzz_%); do \
		seeds=$(FUZZ_BUILD)/seeds/$$t; rm -rf $$seeds; mkdir -p $$seeds $(FUZZ_WORK)/$$t $(FUZZ_BUILD)/crashes; \
		for f in tests/fuzz/corpus/$$t/*; do \
			case $${f##*/} in repro-*) ;; *) cp $$f $$seeds/ ;; esac; \
		done; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s, new inputs in $(FUZZ_WORK)/$$t"; \
		$(FUZZ_ENV) $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 \
			-close_fd_mask=2 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- \
			$$(test -f tests/fuzz/$$t.dict && echo -dict=tests/fuzz/$$t.dict) \
			$(FUZZ_FLAGS) $(FUZZ_WORK)/$$t $$seeds; \
	done

clean:
	rm -rf build build-san build-fuzz
	[ ! -d $(KDIR) ] || $(MAKE) -C $(KDIR) M=$(CURDIR) clean

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
