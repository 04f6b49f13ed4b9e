#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying and testing the workflow's Slurm profile.
#
#   scripts/local-slurm.sh up      install (Debian's slurm-wlm, munge) if missing, then start
#                                  munged, slurmctld and slurmd; waits until the node is idle
#   scripts/local-slurm.sh status  what runs, and sinfo
#   scripts/local-slurm.sh down    stop what `up` started; remove the slurm.conf it wrote
#
# Needs root (slurmd starts jobs as their user). Idempotent: `up` on a running cluster only checks
# it. The node gets the cores and memory `slurmd -C` reports. No cgroups: processes are tracked
# through /proc (proctrack/linuxproc), tasks are not confined (task/none), nothing is accounted
# (jobacct_gather/none; no slurmdbd, so `sacct` has no data: job status comes from `squeue`, and
# finished jobs stay visible there for MinJobAge seconds). Cores and memory are still allotted per
# job by the scheduler (select/cons_tres with CR_Core_Memory).
#
# State, spool, pid files and logs live in $DSE_SLURM_DIR (default /var/lib/dse-slurm); the
# configuration is written to /etc/slurm/slurm.conf, where Slurm's commands look for it, unless a
# slurm.conf that this script did not write is there already (then it stops: use that cluster).
set -euo pipefail

DIR=${DSE_SLURM_DIR:-/var/lib/dse-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# Written by dse scripts/local-slurm.sh"
PARTITION=dse   # the cluster's only partition, and its default
MUNGE_SOCKET=/run/munge/munge.socket.2

say() { echo "local-slurm: $*" >&2; }
die() { say "error: $*"; exit 1; }

show_logs() {
    for f in "$DIR"/log/*.log /var/log/munge/munged.log; do
        [ -s "$f" ] || continue
        say "--- last lines of $f"
        tail -n 20 "$f" >&2
    done
}

alive() {  # alive DIR/run/NAME.pid: the process named there runs and is NAME (not a reused pid)
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ]
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ours() { [ -f "$CONF" ] && head -n 1 "$CONF" | grep -qF "$MARK"; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    say "installing Debian's slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

start_munge() {
    if munge_works; then
        return  # a munged runs already (ours from an earlier `up`, or the system's)
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" \
        --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$DIR/run/munged.pid"  # `down` stops only a munged that `up` started
    for _ in $(seq 50); do munge_works && return; sleep 0.1; done
    show_logs
    die "munged did not start"
}

write_conf() {
    local host node tmp
    host=$(hostname -s)
    # slurmd -C: "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1
    # RealMemory=24105" (the first line); the node is declared with exactly these figures
    node=$(slurmd -C | head -n 1)
    case "$node" in NodeName=*RealMemory=*) ;; *) die "unexpected 'slurmd -C' output: $node" ;; esac
    node=${node#NodeName=* }
    tmp=$(mktemp "$CONF.XXXXXX")
    cat >"$tmp" <<EOF
$MARK: a one-node cluster on $host (scripts/local-slurm.sh down removes this file)
ClusterName=dse-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: track job processes through /proc, do not confine tasks, gather no usage
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none
SchedulerType=sched/backfill
# cores and memory are allotted per job: a job asks for --mem and --cpus-per-task
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# finished jobs stay visible to squeue for 10 minutes (how Snakemake's plugin learns their end)
MinJobAge=600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host $node State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    chmod 0644 "$tmp"
    mv "$tmp" "$CONF"
}

node_state() { sinfo -h -N -p "$PARTITION" -o %T 2>/dev/null | head -n 1; }

up() {
    [ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as their user)"
    install_packages
    if [ -f "$CONF" ] && ! ours; then
        die "$CONF exists and was not written by this script: a cluster is configured here already"
    fi
    mkdir -p "$DIR"/state "$DIR"/spool "$DIR"/log "$DIR"/run /etc/slurm
    start_munge
    if ! { alive "$DIR/run/slurmctld.pid" && alive "$DIR/run/slurmd.pid"; }; then
        write_conf
    fi
    if ! alive "$DIR/run/slurmctld.pid"; then
        slurmctld || { show_logs; die "slurmctld did not start"; }
    fi
    for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
    scontrol ping >/dev/null 2>&1 || { show_logs; die "slurmctld does not answer (scontrol ping)"; }
    if ! alive "$DIR/run/slurmd.pid"; then
        slurmd || { show_logs; die "slurmd did not start"; }
    fi
    local state=""
    for _ in $(seq 150); do
        state=$(node_state)
        case "$state" in
            idle*|mixed*|allocated*|completing*) break ;;
            down*|drain*) scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.2
    done
    case "$state" in
        idle*|mixed*|allocated*|completing*) ;;
        *) show_logs; die "the node did not come up (sinfo state: '${state:-none}')" ;;
    esac
    say "up: partition '$PARTITION', node $(hostname -s) $state; logs in $DIR/log"
}

status() {
    local rc=0
    for d in munged slurmctld slurmd; do
        if alive "$DIR/run/$d.pid"; then
            echo "$d: running (pid $(cat "$DIR/run/$d.pid"))"
        elif [ "$d" = munged ] && munge_works; then
            echo "munged: running (not started by this script)"
        else
            echo "$d: not running"; rc=1
        fi
    done
    if [ "$rc" -eq 0 ]; then sinfo; fi
    return "$rc"
}

stop() {  # stop NAME: end the daemon whose pid file `up` left, wait for it to exit
    local pidfile="$DIR/run/$1.pid" pid
    alive "$pidfile" || { rm -f "$pidfile"; return; }
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "$1 (pid $pid) ignores SIGTERM; killing it"; kill -9 "$pid"; fi
    rm -f "$pidfile"
    say "stopped $1"
}

down() {
    [ "$(id -u)" -eq 0 ] || die "needs root"
    if [ -d "$DIR/run" ]; then
        if alive "$DIR/run/slurmctld.pid"; then  # end queued and running jobs first
            scancel --partition="$PARTITION" 2>/dev/null || true
        fi
        stop slurmd
        stop slurmctld
        stop munged
    fi
    if ours; then rm -f "$CONF"; fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
