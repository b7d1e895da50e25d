# Thin wrapper over CMake.  `make run` and `make check` are the two commands
# the README promises; both install missing Debian packages when run as root.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEB_PKGS := cmake pkg-config libpmem-dev libjemalloc-dev libcmocka-dev
BENCH_PKGS := libpmemobj-dev libmemkind-dev gnuplot-nox sqlite3

.PHONY: all deps build run check check-long allcounts allcounts-selftest bench bench-quick asan fuzz clean

all: build

# Install what is missing (root), or say exactly what to run (non-root).
deps:
	@./.ci/deps.sh $(DEB_PKGS)

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@./examples/binarytree/run-demo.sh $(BUILD)

check: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long; rc=$$?; \
	 cd $(CURDIR) && ./.ci/figures.sh $(BUILD); exit $$rc

check-long: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L long; rc=$$?; \
	 cd $(CURDIR) && ./.ci/figures.sh $(BUILD); exit $$rc

asan:
	@$(MAKE) check BUILD=build-asan CMAKE_FLAGS="-DPMSTORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

allcounts: build
	@cmake --build $(BUILD) --target allcounts

allcounts-selftest: build
	@cmake --build $(BUILD) --target allcounts-selftest

bench: build
	@./.ci/deps.sh $(BENCH_PKGS)
	@cmake -S . -B $(BUILD) >/dev/null && cmake --build $(BUILD) -j $(JOBS)
	@./bench/run.sh $(BUILD)

bench-quick: build
	@./.ci/deps.sh $(BENCH_PKGS)
	@cmake -S . -B $(BUILD) >/dev/null && cmake --build $(BUILD) -j $(JOBS)
	@./bench/run.sh $(BUILD) --quick

# libFuzzer over damaged pool files (clang; fuzz/run.sh): FUZZ_MINUTES=N.
FUZZ_MINUTES ?= 10
fuzz: deps
	@./fuzz/run.sh $(FUZZ_MINUTES)

clean:
	rm -rf $(BUILD) build-asan
