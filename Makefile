# ignis: out-of-tree build into $(BUILD); quiet unless V=1.
#
#   make            build build/ignis
#   make run        install deps, build, profile this machine for 10 s
#   make test       install deps, build, run every test (unit, sanitized unit,
#                   integration)
#   make vmlinux    regenerate bpf/vmlinux/$(ARCH)/vmlinux.h from this kernel
#   make install    the binary, the systemd unit and an example config
#                   (PREFIX=/usr/local, DESTDIR for packaging)

BUILD    ?= build
ARCH     ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PROTOC_C ?= protoc-c
PYTHON   ?= /usr/bin/python3
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS     := libbpf libelf libdw libprotobuf-c zlib libdebuginfod liblzma libcurl yaml-0.1 \
            libzstd json-c libpcre2-8 libmicrohttpd
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
            -D_GNU_SOURCE -DIGNIS_VERSION='"$(VERSION)"' \
            -I. -I$(BUILD) -I$(BUILD)/proto/otlp $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl, libdebuginfod and libmicrohttpd are opened when first used
# (base/dynlib.h), not linked: their headers only.
LINKED   := $(filter-out libcurl libdebuginfod libmicrohttpd,$(PKGS))
LDLIBS   += $(shell pkg-config --libs $(LINKED) 2>/dev/null) -liberty -lpthread

ifeq ($(FUZZ),1)
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
endif

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
PROTOS     := $(wildcard proto/*.proto)
# OTLP's official .proto files keep their package paths under proto/otlp/
# (their imports name them so): generated under $(BUILD)/proto/otlp/.
OTLP_PROTOS := $(shell find proto/otlp -name '*.proto' 2>/dev/null)
PROTO_C    := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTOS) $(OTLP_PROTOS))
PROTO_OBJS := $(PROTO_C:.c=.o)

# The layers, bottom first (ARCHITECTURE.md): a folder's code includes its
# own headers and those of the folders before it, never after
# (scripts/check-layers.sh fails the build on one that does). Each folder is
# one static archive; a unit test links its module's archive and those below.
LAYERS     := base sys http exporters symbolizer identity unwinder sampling agent
layer_srcs  = $(filter-out agent/main.c,$(wildcard $(1)/*.c))
layer_lib   = $(BUILD)/lib/lib$(1).a
# Archives a module of layer $(1) links with: its own and those below, the
# highest first (what a static link needs).
layers_upto = $(call layers_rev,$(wordlist 1,$(call layer_rank,$(1)),$(LAYERS)))
layer_rank  = $(words $(call layers_before,$(1),$(LAYERS)) x)
layers_before = $(if $(filter $(1),$(firstword $(2))),,$(firstword $(2)) $(call layers_before,$(1),$(wordlist 2,99,$(2))))
layers_rev  = $(if $(1),$(call layers_rev,$(wordlist 2,99,$(1))) $(firstword $(1)))
libs_upto   = $(foreach l,$(call layers_upto,$(1)),$(call layer_lib,$(l)))

LIB_SRCS   := $(foreach l,$(LAYERS),$(call layer_srcs,$(l)))
LIB_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS)) $(PROTO_OBJS)
LIBS       := $(call libs_upto,agent)
MAIN_OBJ   := $(BUILD)/agent/main.o

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

WORKLOAD_SRCS := $(wildcard tests/workloads/*.c tests/workloads/*.cc)
WORKLOADS     := $(patsubst tests/workloads/%,$(BUILD)/workloads/%,$(basename $(WORKLOAD_SRCS)))

FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS    := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60

.PHONY: all deps run test unit unit-sanitize integration vmlinux clean bench fuzz fuzzers install layers
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/ignis

$(BUILD)/ignis: $(MAIN_OBJ) $(LIBS) | layers
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(LIBS) $(LDLIBS)

# One archive per layer; the generated protobuf code belongs to exporters.
define layer_rule
$(call layer_lib,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(call layer_srcs,$(1))) $(if $(filter exporters,$(1)),$(PROTO_OBJS))
	$$(call msg,AR,$$@)
	@mkdir -p $$(@D)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))

layers:
	$(Q)scripts/check-layers.sh $(LAYERS)

# Generated headers must exist before any C file that may include them.
$(LIB_OBJS) $(MAIN_OBJ) $(UNIT_BINS): | $(SKELS) $(PROTO_C)

$(BUILD)/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$<)
	@mkdir -p $(@D)
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/proto/otlp/%.pb-c.c $(BUILD)/proto/otlp/%.pb-c.h: proto/otlp/%.proto
	$(call msg,PROTOC,$<)
	@mkdir -p $(BUILD)/proto/otlp
	$(Q)$(PROTOC_C) --proto_path=proto/otlp --c_out=$(BUILD)/proto/otlp $<

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	$(call msg,CC,$<)
	$(Q)$(CC) $(filter-out -Wextra,$(CFLAGS)) -c -o $@ $<

BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
              -Ibpf -Ibpf/vmlinux/$(ARCH) -I$(BUILD)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

vmlinux:
	$(call msg,GEN,bpf/vmlinux/$(ARCH)/vmlinux.h)
	@mkdir -p bpf/vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux/$(ARCH)/vmlinux.h

# Unit tests: one cmocka binary per module, linked against the library objects
# and the helpers the tests share (tests/unit/support.c).
UNIT_SUPPORT := $(BUILD)/tests/support.o

$(UNIT_SUPPORT): tests/unit/support.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The layer of test_foo is the folder that holds foo.c (the agent when none
# does); tests that include support.h link it too.
test_layer   = $(or $(patsubst %/$(1).c,%,$(firstword $(wildcard $(addsuffix /$(1).c,$(LAYERS))))),agent)
test_support = $(if $(shell grep -l 'tests/unit/support.h' tests/unit/$(1).c),$(UNIT_SUPPORT))
define unit_rule
$(BUILD)/tests/$(1): tests/unit/$(1).c $(call test_support,$(1)) $(call libs_upto,$(call test_layer,$(patsubst test_%,%,$(1))))
	$$(call msg,TEST-CC,$$@)
	@mkdir -p $$(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP $(LDFLAGS) -o $$@ $$(filter %.c %.o %.a,$$^) $(LDLIBS) -lcmocka
endef
$(foreach t,$(patsubst tests/unit/%.c,%,$(UNIT_SRCS)),$(eval $(call unit_rule,$(t))))

# The Kubernetes client alone, for tests/integration/test_fake_kubeapi.py.
$(BUILD)/tests/kube_driver: tests/kube_driver.c $(call libs_upto,identity)
	$(call msg,TEST-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call libs_upto,identity) $(LDLIBS)

# Benchmark drivers link the library like the unit tests (bench/README.md).
$(BUILD)/bench/symbolize_driver: bench/symbolize_driver.c $(LIBS)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(BUILD)/bench/otlp_driver: bench/otlp_driver.c $(call libs_upto,exporters)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call libs_upto,exporters) $(LDLIBS)

# What the files `ignis record` writes cost to render (bench/README.md).
$(BUILD)/bench/encode_driver: bench/encode_driver.c $(call libs_upto,exporters)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call libs_upto,exporters) $(LDLIBS)

# What loading the BPF programs costs the verifier (bench/README.md).
$(BUILD)/bench/verifier_driver: bench/verifier_driver.c $(SKELS)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -I$(BUILD) $(LDFLAGS) -o $@ $< $(LDLIBS)

# What hashing a key costs (base/hashmap.h's hash_words; bench/README.md).
$(BUILD)/bench/hash_driver: bench/hash_driver.c base/hashmap.h $(call libs_upto,base)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call libs_upto,base)

# What the aggregate's intake costs a sample with cold caches (bench/README.md).
$(BUILD)/bench/aggregate_driver: bench/aggregate_driver.c $(call libs_upto,sampling)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call libs_upto,sampling) $(LDLIBS)

# What compiling a binary's unwind table costs (bench/README.md).
$(BUILD)/bench/unwtable_driver: bench/unwtable_driver.c $(call libs_upto,unwinder)
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call libs_upto,unwinder) $(LDLIBS)

# An empty program on a tracepoint: the dispatch floor bench/offcpu compares with.
$(BUILD)/bench/hook_floor: bench/hook_floor.c
	$(call msg,BENCH-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# Workloads keep frame pointers (in leaf functions too: -O0, since gcc drops
# them from leaves at -O1 and above) and symbols, so their stacks are ground
# truth; the *_nofp ones are built the way distributions build, without
# frame pointers, for the DWARF unwinder.
WL_CFLAGS = -O0 -g -fno-omit-frame-pointer
$(BUILD)/workloads/%_nofp: WL_CFLAGS = -O2 -g -fomit-frame-pointer

$(BUILD)/workloads/%: tests/workloads/%.c $(wildcard tests/workloads/*.h) Makefile
	$(call msg,WORKLOAD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WL_CFLAGS) -o $@ $< -lm

# C++ is built the way it ships: optimized, so the symbolizer meets inlining.
$(BUILD)/workloads/%: tests/workloads/%.cc Makefile
	$(call msg,WORKLOAD,$@)
	@mkdir -p $(@D)
	$(Q)$(CXX) -O2 -g -o $@ $<

# Fuzz targets (libFuzzer) for the parsers of outside input, built with
# clang into their own tree: `make fuzz FUZZ_SECONDS=N` runs each for N s,
# as many at once as there are CPUs.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIBS)
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBS) $(LDLIBS)

fuzzers: $(FUZZERS)

fuzz:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz-build CC=clang FUZZ=1 fuzzers
	$(Q)scripts/run-fuzz.sh $(FUZZ_SECONDS) $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-build/fuzz/%,$(FUZZ_SRCS))

deps:
	$(Q)scripts/deps.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)if [ "$$(id -u)" -ne 0 ]; then echo "make run: profiling needs root; running under sudo"; \
	    sudo $(BUILD)/ignis record --duration 10 --output ./ignis-out; \
	else $(BUILD)/ignis record --duration 10 --output ./ignis-out; fi

test: deps
	$(Q)scripts/run-tests.sh

# The tests that build Go programs share one build cache under build/
# (the standard library is compiled once, not once per test).
TEST_GOCACHE := $(CURDIR)/build/gocache

unit: $(UNIT_BINS)
	$(Q)IGNIS_TEST_GOCACHE=$(TEST_GOCACHE) scripts/run-unit.sh $(UNIT_BINS)

unit-sanitize:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize SANITIZE=1 unit

# The Kubernetes client driver runs under the sanitizers.
integration: $(BUILD)/ignis $(WORKLOADS)
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize SANITIZE=1 $(BUILD)/sanitize/tests/kube_driver
	$(Q)IGNIS=$(abspath $(BUILD)/ignis) WORKLOADS=$(abspath $(BUILD)/workloads) \
	    IGNIS_TEST_GOCACHE=$(TEST_GOCACHE) \
	    KUBE_DRIVER=$(abspath $(BUILD)/sanitize/tests/kube_driver) \
	    $(PYTHON) -m pytest -q -rs -p no:cacheprovider --durations=30 tests/integration

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

# make install [PREFIX=/usr/local] [DESTDIR=]: $(PREFIX)/bin/ignis, the unit
# in $(PREFIX)/lib/systemd/system (/lib/systemd/system for PREFIX=/usr, where
# Debian keeps the units of packages; systemd reads both) with ExecStart
# pointing at that binary, and /etc/ignis/ignis.yaml unless one is there
# already (a reinstall never replaces a configuration).
PREFIX         ?= /usr/local
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

install: $(BUILD)/ignis
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX)/bin/ignis)
	$(Q)install -d -m 0755 $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)/etc/ignis
	$(Q)install -m 0755 $(BUILD)/ignis $(DESTDIR)$(PREFIX)/bin/ignis
	$(Q)sed 's|/usr/local/bin/ignis|$(PREFIX)/bin/ignis|' deploy/ignis.service > $(DESTDIR)$(SYSTEMDUNITDIR)/ignis.service.tmp
	$(Q)chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/ignis.service.tmp
	$(Q)mv $(DESTDIR)$(SYSTEMDUNITDIR)/ignis.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/ignis.service
	$(Q)if [ -e $(DESTDIR)/etc/ignis/ignis.yaml ]; then \
	    echo "install: $(DESTDIR)/etc/ignis/ignis.yaml exists, left as it is"; \
	else install -m 0644 deploy/ignis.yaml $(DESTDIR)/etc/ignis/ignis.yaml; fi

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
