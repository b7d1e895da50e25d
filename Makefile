# Thin wrapper over CMake.  `make run` and `make check` are the two commands
# the README promises; both install missing Debian packages when run as root.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEB_PKGS := gcc g++ make cmake pkg-config libpmem-dev libjemalloc-dev libcmocka-dev
# `make deb`: dpkg-shlibdeps (dpkg-dev) and file(1), which CPack uses
DEBBUILD_PKGS := dpkg-dev file
DEB_BUILD ?= build-deb
BENCH_PKGS := libpmemobj-dev liblmdb-dev libmemkind-dev gnuplot-nox sqlite3

.PHONY: all deps build run check check-long allcounts allcounts-selftest basic-allcounts bench bench-quick asan fuzz deb clean

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

# examples/basic under icount: the plain-store version fails (names the
# line), the transactional and action-based ones pass (docs/ICOUNT.md)
basic-allcounts: build
	@cmake --build $(BUILD) --target basic-allcounts

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

# Debian packages (cmake/install.cmake): a build for /usr of only what is
# installed, CPack, then lintian and a simulated `apt-get install` of the
# result when they are there (cmake/deb-report.sh).  Output: $(DEB_BUILD)/debs/.
deb: deps
	@./.ci/deps.sh $(DEBBUILD_PKGS)
	@cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	       -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(DEB_BUILD) -j $(JOBS) --target pmstore_installed
	@rm -rf $(DEB_BUILD)/debs && cd $(DEB_BUILD) && cpack -G DEB -B $(CURDIR)/$(DEB_BUILD)/debs >/dev/null
	@./cmake/deb-report.sh $(DEB_BUILD)/debs

clean:
	rm -rf $(BUILD) build-asan $(DEB_BUILD)
