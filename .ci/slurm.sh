# Sourced by .ci/run (bash, set -euo pipefail, the venv active): a one-node Slurm cluster for the
# test marked `slurm` (tests/test_slurm.py).
# - scripts/local-slurm.sh up: installs Debian's slurm-wlm and munge if missing, writes
#   /etc/slurm/slurm.conf for this machine's cores and memory, starts munged, slurmctld, slurmd;
# - installs the project's extra `slurm` (snakemake-executor-plugin-slurm) into the venv;
# - exports DSE_REQUIRE_SLURM=1: the test fails instead of skipping when no cluster answers;
# - stops the cluster when the calling shell exits.
# A step that fails ends CI with its error (local-slurm.sh prints its daemons' logs).

scripts/local-slurm.sh up
# run after whatever the calling shell already does on exit
trap "scripts/local-slurm.sh down || true; $(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT\$/\\1/")" EXIT
python -m pip install --quiet -c constraints.txt -e '.[slurm]'
export DSE_REQUIRE_SLURM=1
