# The two commands of the README: `make test` and `make demo`. Everything else is CMake.
BUILD ?= build
TEST_BUILD ?= build-test
JOBS ?= $(shell nproc)

.PHONY: all deps build test demo clean

all: build

deps:
	@sh tools/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

# Tests run on a sanitized build (ASan + UBSan), so memory errors fail them.
test:
	@sh tools/install-deps.sh --test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCARETAKER_SANITIZE=ON
	cmake --build $(TEST_BUILD) -j$(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

demo: build
	sh tools/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
