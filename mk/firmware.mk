# ESP32 gateway firmware: host build and tests of its portable core
# (esp32/ruuvitag_gateway/host). The ESP-IDF build itself needs Espressif's
# toolchain (`idf.py build`, see esp32/ruuvitag_gateway/README.md).
#
#   make firmware-host          install build deps, build (gcc + ASan/UBSan, clang libFuzzer), run ctest
#   make firmware-host-build    the same without running the tests (used by tests/firmware)

FW_DIR        := esp32/ruuvitag_gateway
FW_HOST_DIR   := $(FW_DIR)/host
FW_HOST_BUILD := $(FW_HOST_DIR)/build
# Debian packages the host build needs; cJSON and libmosquitto stand in for
# ESP-IDF's cJSON component and esp-mqtt; clang + compiler-rt give libFuzzer.
FW_DEB_PACKAGES := gcc cmake ninja-build libcjson-dev libmosquitto-dev clang libclang-rt-14-dev
FW_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
FW_FUZZ_SECONDS ?= 3

.PHONY: firmware-deps firmware-host-build

firmware-deps:
	@missing=""; for p in $(FW_DEB_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing firmware host build deps:$$missing"; \
	  $(FW_SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(FW_SUDO) apt-get install -y -qq $$missing; \
	fi

$(FW_HOST_BUILD)/build.ninja: $(FW_HOST_DIR)/CMakeLists.txt | firmware-deps
	cmake -S $(FW_HOST_DIR) -B $(FW_HOST_BUILD) -G Ninja -DCMAKE_C_COMPILER=gcc \
	  -DRUUVI_FUZZ_SECONDS=$(FW_FUZZ_SECONDS)

firmware-host-build: firmware-deps $(FW_HOST_BUILD)/build.ninja
	cmake --build $(FW_HOST_BUILD)

firmware-host: firmware-host-build
	cd $(FW_HOST_BUILD) && ctest --output-on-failure -j2
