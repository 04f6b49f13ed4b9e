# Sourced by .ci/run (bash, set -euo pipefail): headless Chromium for tests/test_explore.py, which
# loads results/explore.html in it. Installs Debian's chromium when it is missing, and exports
# DSE_REQUIRE_TOOLS=1 so that test fails instead of skipping when the browser is not there.
if ! command -v chromium >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium
fi
export DSE_REQUIRE_TOOLS=1
