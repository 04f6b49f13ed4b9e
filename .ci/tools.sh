# Sourced by .ci/run (bash, set -euo pipefail, the venv active): the real tools the export's
# checks run against, from Debian's packages (issue 16):
# - yosys: `synth_xilinx -family xcup` on every distinct buffer bank of the exported designs
#   (tests/test_hardware.py);
# - libxrt-dev: XRT 2.13 headers and libxrt_coreutil, so host.cpp compiles and links against the
#   real XRT (tests/test_host_xrt.py).
# Exports DSE_REQUIRE_TOOLS=1: those tests fail instead of skipping when a tool is missing.
# (Xilinx's HLS type headers come from PyPI through `python -m dse.hls_headers`; Chromium for the
# explorer's browser test from .ci/browser.sh.)
missing=()
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
[ -d /usr/include/xrt ] || missing+=(libxrt-dev)
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
export DSE_REQUIRE_TOOLS=1
