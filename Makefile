# The two commands of the README, plus the sanitizer build. The real build is CMake (CMakePresets.json).
JOBS ?= $(shell nproc)

.PHONY: setup build demo test asan clean

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

clean:
	rm -rf build build-asan
