#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, from Debian's packages (Slurm 22.05), for the
# sweep tests and for trying `chamlab sweep --executor slurm` without a cluster.
#
#   scripts/slurm-local.sh start    start munged, MariaDB, slurmdbd, slurmctld, slurmd (or say they run)
#   scripts/slurm-local.sh stop     stop them, by their own pid files
#   scripts/slurm-local.sh status   exit 0 when the cluster answers and its node is usable
#   scripts/slurm-local.sh env      print the environment a client needs
#
# Every file (munge key and socket, database, configs, pid files, controller state, spool, logs) lives
# under one folder: $CHAMLAB_SLURM_DIR, default /tmp/chamlab-slurm. `stop` keeps the folder (a later
# `start` resumes with the same job ids and accounting); remove it after `stop` to start afresh.
# Ports: $CHAMLAB_SLURM_PORT (default 6817) for slurmctld, +1 slurmd, +2 slurmdbd.
#
# A client (sbatch, squeue, sacct, chamlab) needs SLURM_CONF; `start` and `env` print it and write it
# to $CHAMLAB_SLURM_DIR/env.sh, so `. /tmp/chamlab-slurm/env.sh` sets it up.
#
# Needs root (the daemons run as root, no systemd) and the packages that `npm run setup` installs:
# slurmctld slurmd slurm-client slurmdbd munge mariadb-server-core mariadb-client-core.
set -euo pipefail

DIR=${CHAMLAB_SLURM_DIR:-/tmp/chamlab-slurm}
PORT=${CHAMLAB_SLURM_PORT:-6817}
CLUSTER=chamlab
PARTITION=debug
# Every Slurm client call gets a limit: a client without a reachable controller hangs 9-60 s.
T=15

MUNGE_SOCK=$DIR/munge/munge.socket
DB_SOCK=$DIR/db/mariadb.sock
CONF=$DIR/etc/slurm.conf

say() { echo "slurm-local: $*" >&2; }
die() { say "$*"; exit 1; }

need_packages() {
  local missing=()
  for exe in munged mungekey mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd sbatch sacctmgr start-stop-daemon; do
    command -v "$exe" >/dev/null || missing+=("$exe")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run 'npm run setup' (as root) or apt-get install slurmctld slurmd slurm-client slurmdbd munge mariadb-server-core mariadb-client-core"
  [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root here)"
}

# Detached, all inherited fds closed (else a caller's pipe never sees EOF), foreground-mode daemon,
# pid file written by start-stop-daemon itself.
start_daemon() { # name exe args...
  local name=$1 exe=$2
  shift 2
  start-stop-daemon --start --background --make-pidfile --pidfile "$DIR/run/$name.pid" \
    --output "$DIR/log/$name.out" --exec "$exe" -- "$@"
}

# Stops by pid file and executable (never by name: other clusters or users may run the same daemons).
stop_daemon() { # name exe
  local pidfile=$DIR/run/$1.pid exe=$2
  [ -f "$pidfile" ] || return 0
  start-stop-daemon --stop --quiet --pidfile "$pidfile" --exec "$exe" --retry TERM/15/KILL/5 >/dev/null 2>&1 || true
  rm -f "$pidfile"
}

running() { # name exe
  local pidfile=$DIR/run/$1.pid
  [ -f "$pidfile" ] && start-stop-daemon --status --pidfile "$pidfile" --exec "$2"
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${limit}s waiting for $what (logs: $DIR/log)"
    sleep 0.1
  done
}

write_env() {
  printf 'export SLURM_CONF=%s\n' "$CONF" >"$DIR/env.sh.tmp"
  mv "$DIR/env.sh.tmp" "$DIR/env.sh"
}

print_env() { cat "$DIR/env.sh"; }

write_configs() {
  local node host cpus
  # The node line as slurmd sees this machine (without the UpTime line), reachable on loopback.
  node=$(slurmd -C | head -n1)
  host=$(hostname -s)
  cpus=$(nproc)
  cat >"$CONF.tmp" <<EOF
# Written by scripts/slurm-local.sh: a single-node cluster, all state under $DIR.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/state/slurmctld.pid
SlurmdPidFile=$DIR/spool/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups, no systemd: track processes by their parent pids, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Cores are the consumable (the memory-aware default gives each job the whole node).
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Schedule at once instead of batching submissions for ~3 s.
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
# sacct needs slurmdbd; its link ignores AuthInfo unless AccountingStoragePass names the socket too.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT + 2))
AccountingStoragePass=$MUNGE_SOCK
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
  # slurmdbd reads slurmdbd.conf beside slurm.conf; it must be mode 600.
  local dbd=$DIR/etc/slurmdbd.conf
  (umask 077 && cat >"$dbd.tmp" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
PidFile=$DIR/run/slurmdbd.own.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
  )
  mv "$dbd.tmp" "$dbd"
  chmod 600 "$dbd"
}

mariadb_ok() { mariadb --no-defaults -S "$DB_SOCK" -u root -e 'select 1'; }
munge_ok() { munge -n -S "$MUNGE_SOCK" | unmunge -S "$MUNGE_SOCK"; }
dbd_ok() { timeout $T sacctmgr -n show cluster format=cluster; }
node_idle() { [ "$(timeout $T sinfo -h -o %T 2>/dev/null | head -n1)" = idle ]; }

cmd_start() {
  need_packages
  mkdir -p "$DIR"/{munge,db,etc,run,log,state,spool}
  export SLURM_CONF=$CONF
  if cmd_status >/dev/null 2>&1; then
    say "already running (state in $DIR)"
    write_env
    print_env
    return 0
  fi
  # A half-started or crashed cluster: clear what is left before starting again.
  cmd_stop >/dev/null 2>&1 || true
  local t0=$SECONDS
  write_configs

  # munged: its key, and a socket folder others can traverse (clients run as any user).
  [ -f "$DIR/munge/munge.key" ] || mungekey -c -k "$DIR/munge/munge.key"
  chmod 700 "$DIR/munge" && chmod 600 "$DIR/munge/munge.key"
  chmod 755 "$DIR/munge"
  start_daemon munged /usr/sbin/munged -F --force --socket="$MUNGE_SOCK" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.own.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"
  wait_for 10 munged munge_ok

  # MariaDB: private datadir and socket, no TCP. Created once, kept across restarts.
  if [ ! -d "$DIR/db/data/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/db/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 ||
      die "mariadb-install-db failed (see $DIR/log/mariadb-install.log)"
  fi
  start_daemon mariadb /usr/sbin/mariadbd --no-defaults --user=root --datadir="$DIR/db/data" --socket="$DB_SOCK" \
    --skip-networking --innodb-log-file-size=4M --log-error="$DIR/log/mariadb.log" --pid-file="$DIR/db/mariadb.own.pid"
  wait_for 30 MariaDB mariadb_ok

  # slurmdbd reaches MariaDB through its socket (root logs in by unix-socket auth).
  MYSQL_UNIX_PORT=$DB_SOCK start_daemon slurmdbd /usr/sbin/slurmdbd -D
  wait_for 30 slurmdbd dbd_ok
  if ! timeout $T sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
    timeout $T sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi

  start_daemon slurmctld /usr/sbin/slurmctld -D -f "$CONF"
  start_daemon slurmd /usr/sbin/slurmd -D -f "$CONF"
  wait_for 30 'the node to be idle (sinfo)' node_idle

  # The controller schedules nothing for its first ~3 s: a smoke job absorbs that delay here, so the
  # first real job starts at once, and proves that jobs run and reach accounting.
  local job
  job=$(timeout $T sbatch --parsable -J chamlab-smoke -o /dev/null -t 1 --wrap true) || die "sbatch of the smoke job failed"
  job=${job%%;*}
  smoke_done() { [ "$(timeout $T sacct -n -X -P -j "$job" -o State 2>/dev/null | head -n1)" = COMPLETED ]; }
  wait_for 30 "the smoke job $job to complete" smoke_done

  write_env
  say "cluster '$CLUSTER' up in $((SECONDS - t0)) s (partition $PARTITION, $(nproc) CPUs, state in $DIR)"
  print_env
}

cmd_stop() {
  # Reverse start order; each by its pid file.
  stop_daemon slurmd /usr/sbin/slurmd
  stop_daemon slurmctld /usr/sbin/slurmctld
  stop_daemon slurmdbd /usr/sbin/slurmdbd
  stop_daemon mariadb /usr/sbin/mariadbd
  stop_daemon munged /usr/sbin/munged
  # slurmd's job steps (slurmstepd) exit with their jobs; report any left so nothing lingers silently.
  say "stopped (state kept in $DIR)"
}

cmd_status() {
  export SLURM_CONF=$CONF
  local ok=0 d
  for d in munged:/usr/sbin/munged mariadb:/usr/sbin/mariadbd slurmdbd:/usr/sbin/slurmdbd slurmctld:/usr/sbin/slurmctld slurmd:/usr/sbin/slurmd; do
    if running "${d%%:*}" "${d#*:}"; then echo "${d%%:*}: running (pid $(cat "$DIR/run/${d%%:*}.pid"))"; else echo "${d%%:*}: not running"; ok=1; fi
  done
  [ $ok = 0 ] || return 1
  local state
  state=$(timeout $T sinfo -h -o %T 2>/dev/null | head -n1) || true
  echo "node: ${state:-no answer}"
  case $state in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) [ -f "$DIR/env.sh" ] || die "no cluster state in $DIR: run '$0 start'"; print_env ;;
*) echo "usage: $0 start|stop|status|env   (state in \$CHAMLAB_SLURM_DIR, default /tmp/chamlab-slurm)" >&2; exit 2 ;;
esac
