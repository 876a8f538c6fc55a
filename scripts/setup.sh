#!/usr/bin/env bash
# mora's set-up: everything `python -m pytest` needs, on a fresh machine, into the active Python environment.
# The README's one set-up command, and what CI (.ci/run) runs, so the two cannot drift apart.
set -euo pipefail
cd "$(dirname "$0")/.."

# The web studio's tests drive Debian's chromium through Playwright: `playwright install` would download a browser
# build of its own, which not every machine may fetch, and which is not needed.
if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then
    echo "setup: Chromium for the web studio's tests is here"
elif ! command -v apt-get >/dev/null; then
    echo "setup: no apt-get on this machine, so Debian's chromium is skipped: the web studio's tests" \
        "(tests/test_web.py) need Chromium at 'chromium' on PATH or /usr/bin/chromium; install it yourself" >&2
elif [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "setup: not root and no sudo, so Debian's chromium is skipped: run 'apt-get install -y chromium' as root" \
        "for the web studio's tests (tests/test_web.py)" >&2
else
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "setup: installing Debian's chromium for the web studio's tests ($SUDO apt-get install chromium)"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium
fi

# The embedded LLM's llama.cpp compiles here: portable x86-64 (AVX2) / arm64 code, never -march=native (a native
# build segfaults on VMs whose CPU advertises AMX; docs/setup.md says why). A CMAKE_ARGS of your own wins: on an
# x86-64 CPU without AVX2 give "-DGGML_NATIVE=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF".
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"

# First torch 2.13.0: on our machines and CI's it is a CPU build on local disk, and any other spec may pull a CUDA
# build. Then mora with every extra the tests use, at the versions CI tested (.ci/constraints.txt); llama-cpp-python
# compiles: about 6 minutes on 2 cores.
python -m pip install torch==2.13.0
python -m pip install -c .ci/constraints.txt -e ".[dev]"
echo "setup: done; run 'mora doctor' to check every embedded part, 'python -m pytest' to run the tests"
