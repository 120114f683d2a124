# The two commands of the README, plus the sanitizer build and the fuzzers. The real build is CMake (CMakePresets.json).
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

.PHONY: setup build demo test asan fuzz clean

setup:
	@bash scripts/setup.sh

build: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: build
	./build/descent train

test: build
	@ctest --preset release -j $(JOBS)

asan: setup
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS)

# libFuzzer harnesses (clang, ASan + UBSan), each run for FUZZ_SECONDS; fails on any finding
fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz
