#!/usr/bin/env bash
# A single-node Slurm on localhost, for trying and testing the Slurm profiles (profiles/slurm).
#
#   scripts/slurm-local.sh start    install (Debian packages, when missing), configure, start; wait until idle
#   scripts/slurm-local.sh stop     stop slurmd, slurmctld and munged (the ones this script started)
#   scripts/slurm-local.sh uninstall  stop, then remove the Debian packages `start` installed and the
#                                   files it wrote: the machine as it was before `start`
#   scripts/slurm-local.sh status   exit 0 when the node is up and usable
#
# Why uninstall: with the Slurm commands installed but the daemons stopped, every `snakemake` call
# waits 10 s at start-up (the Slurm executor plugin asks `scontrol show config` for its help text).
#
# Needs root on Debian; works without systemd (daemons are started directly). Idempotent: `start` on a
# running, unchanged setup only checks it. No slurmdbd: jobs stay visible to `squeue` for MinJobAge
# seconds after they end, which is what the profiles' status command (squeue) relies on.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARK="# written by abcrnn scripts/slurm-local.sh"
NODE=localhost
STATE=/var/lib/slurm-local
LOGS=/var/log/slurm-local
RUN=/run/slurm-local
INSTALLED=$STATE/installed-packages  # the packages `start` installed (`uninstall` removes these only)
WAIT_S=${SLURM_LOCAL_WAIT_S:-90}

die() { echo "slurm-local: $*" >&2; exit "${2:-1}"; }
log() { echo "slurm-local: $*" >&2; }

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

check_host() {
  [ "$(id -u)" = 0 ] || die "needs root (it installs Debian packages and starts the Slurm daemons)"
  [ -r /etc/debian_version ] || die "needs Debian (apt-get, Debian's slurm-wlm packages)"
}

install() {
  local need=""
  command -v munged >/dev/null || need="$need munge"
  command -v slurmctld >/dev/null || need="$need slurmctld"
  command -v slurmd >/dev/null || need="$need slurmd"
  command -v sbatch >/dev/null || need="$need slurm-client"
  [ -z "$need" ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install$need by hand"
  log "installing Debian packages:$need"
  # No daemon may start from a package's install script: this script starts them, configured.
  local policy=/usr/sbin/policy-rc.d created="" before
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod +x $policy; created=1; fi
  before=$(installed_packages)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null \
    || { [ -n "$created" ] && rm -f $policy; die "apt-get install$need failed"; }
  [ -n "$created" ] && rm -f $policy
  # What this install added, dependencies included, for `uninstall` (added to any earlier list).
  mkdir -p $STATE
  { cat $INSTALLED 2>/dev/null || true; comm -13 <(echo "$before") <(installed_packages); } | sort -u >$INSTALLED.new
  mv $INSTALLED.new $INSTALLED
  return 0
}

installed_packages() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | sort; }

# The configuration for this machine: all its CPUs, 90 % of its memory.
render_conf() {
  local cpus mem
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
  mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
  cat <<EOF
$MARK: a single node on localhost, without slurmdbd.
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups (containers, machines without systemd).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
# No accounting database: sacct does not work here. Finished jobs stay in squeue for MinJobAge s
# (>= 3x the executor plugin's first status check), so status queries use squeue.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log
MinJobAge=600
# CPUs and memory are consumable; a job asking more than the node has is refused at once (no
# job pending forever).
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
EnforcePartLimits=ALL
SchedulerType=sched/backfill
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --force --keyfile /etc/munge/munge.key
    else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; fi
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 0700 /etc/munge
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --force
  touch $RUN/munged.ours  # `stop` ends munged only when this script started it
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "munged does not answer (see /var/log/munge/munged.log)"
}

stop_slurm_daemons() {
  local pid d
  for d in slurmd slurmctld; do
    if alive $RUN/$d.pid; then
      pid=$(cat $RUN/$d.pid)
      log "stopping $d ($pid)"
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f $RUN/$d.pid
  done
}

node_state() { sinfo --noheader --nodes=$NODE --format=%t 2>/dev/null | head -1 | tr -d '*~#!%$@^-'; }

cmd_start() {
  check_host
  install
  mkdir -p $CONF_DIR $STATE/slurmctld $STATE/slurmd $LOGS $RUN
  if [ -e $CONF ] && ! grep -qF "$MARK" $CONF; then
    die "$CONF exists and was not written by this script: not touching a real Slurm setup" 3
  fi
  local new changed=""
  new=$(render_conf)
  if [ "$new" != "$(cat $CONF 2>/dev/null)" ]; then
    printf '%s\n' "$new" >$CONF
    changed=1
  fi
  # Debian's packages also read cgroup.conf when present; the defaults are right for task/none.
  start_munge
  if [ -n "$changed" ]; then
    log "wrote $CONF: $(grep '^NodeName' $CONF)"
    stop_slurm_daemons
  fi
  if ! alive $RUN/slurmctld.pid; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
  fi
  for _ in $(seq 50); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
  if ! alive $RUN/slurmd.pid; then
    log "starting slurmd"
    /usr/sbin/slurmd -N $NODE
  fi
  local state="" t=0
  while [ $t -lt $((WAIT_S * 5)) ]; do
    state=$(node_state)
    case "$state" in
      idle|mix|alloc) echo "slurm-local: node $NODE is $state"; return 0 ;;
      drain|drng|down) scontrol update nodename=$NODE state=resume 2>/dev/null || true ;;
    esac
    sleep 0.2
    t=$((t + 1))
  done
  log "node $NODE did not become idle in ${WAIT_S}s (state: ${state:-unknown})"
  sinfo -N -l >&2 || true
  tail -n 20 $LOGS/slurmctld.log $LOGS/slurmd.log >&2 || true
  exit 1
}

cmd_stop() {
  check_host
  stop_slurm_daemons
  if [ -e $RUN/munged.ours ] && alive /run/munge/munged.pid; then
    local pid
    pid=$(cat /run/munge/munged.pid)
    log "stopping munged ($pid)"
    kill "$pid"
  fi
  rm -f $RUN/munged.ours
}

cmd_uninstall() {
  check_host
  cmd_stop
  if [ -s $INSTALLED ]; then
    local pkgs extra
    pkgs=$(installed_packages | comm -12 - <(sort -u $INSTALLED) | tr '\n' ' ')
    if [ -n "${pkgs// /}" ]; then
      # Only what `start` installed: if removing it would take any other package along (something
      # installed since depends on it), leave all of it.
      extra=$(apt-get -s -qq purge $pkgs 2>/dev/null | awk '/^(Remv|Purg) / {print $2}' | sort | comm -23 - <(sort -u $INSTALLED))
      if [ -n "$extra" ]; then
        log "not removing$pkgs: other packages depend on them:" $extra
        return 1
      fi
      log "removing Debian packages (purge: their configuration too): $pkgs"
      DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkgs >/dev/null || die "apt-get purge failed"
    fi
  else
    log "no packages to remove (this script installed none)"
  fi
  if [ -e $CONF ] && grep -qF "$MARK" $CONF; then rm -f $CONF; fi
  rmdir $CONF_DIR 2>/dev/null || true
  rm -rf $STATE $RUN $LOGS
}

cmd_status() {
  scontrol ping 2>/dev/null | grep -q UP || { echo "slurm-local: slurmctld is not up"; exit 1; }
  local state
  state=$(node_state)
  echo "slurm-local: node $NODE is ${state:-unknown}"
  case "$state" in idle|mix|alloc) exit 0 ;; *) exit 1 ;; esac
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  uninstall) cmd_uninstall ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|uninstall|status" >&2; exit 2 ;;
esac
