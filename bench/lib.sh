# Shared by the bench scripts. The functions that run binaries use `bin`
# (the Release build), set by the script before it calls them.

# parse_options SCRIPT SPEC ARGS...: the scripts' command lines. SPEC is a
# list of words: `name` takes a value (--name V sets the variable name, dashes
# as underscores), `name=variable` sets another variable, `name!` is a flag
# that sets the variable to 1. -h/--help prints SCRIPT's opening comment.
parse_options() {
  local script=$1 spec=" $2 " option word variable
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) sed -n '2,/^[^#]/p' "$script" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    esac
    option=${1#--}
    word=""
    for candidate in $spec; do
      case "$candidate" in "$option" | "$option="* | "$option!") word=$candidate ;; esac
    done
    if [ "$1" = "$option" ] || [ -z "$word" ]; then
      echo "$(basename "$script"): unknown argument '$1'" >&2
      exit 2
    fi
    if [ "$word" = "$option!" ]; then
      printf -v "${option//-/_}" '%s' 1
      shift
      continue
    fi
    variable=${word#*=}
    [ "$variable" = "$word" ] && variable=${option//-/_}
    [ $# -ge 2 ] || { echo "$(basename "$script"): $1 needs a value" >&2; exit 2; }
    printf -v "$variable" '%s' "$2"
    shift 2
  done
}

# ensure_workload DIR CHUNKS: DIR/input holds chunkex-gen's 4 files of CHUNKS
# chunks (seed 1), generated only when they are not there already.
ensure_workload() {
  local dir=$1 chunks=$2 stamp="chunks=$2 seed=1"
  if [ "$(cat "$dir/input/.workload" 2>/dev/null)" != "$stamp" ]; then
    "$bin/chunkex-gen" --data-dir "$dir/input" --chunks "$chunks" --seed 1 >/dev/null
    echo "$stamp" > "$dir/input/.workload"
  fi
}

now() { date +%s.%N; }
# seconds_since START: the seconds from START (a `now`) to now, to the ms.
seconds_since() { python3 -c "print(round($(now) - $1, 3))"; }

# settle_memory: waits, before a timed run, until this VM has finished handing
# freed memory back to its host. A guest with free page reporting returns the
# pages a run frees (its output files, deleted) over the next 15 s or so, and
# a page handed back costs a host fault when it is touched again: here a floor
# run started 8 s after the previous run's files were deleted took 1.0-1.3 s
# longer, with 2.4-2.9 s more system CPU, than one started at once. So without
# the wait a program that reads and hashes for a second before it writes
# (chunkex's clients, the floor with --hash-own) wrote into more returned pages
# than one that writes at once. The wait ends when the kernel's count of
# reported memory has not moved for 3 s (it moves in bursts about 2 s apart),
# after at most settle_s seconds (0: no wait). Sets SETTLED_S. Where the count
# does not exist (no free page reporting, or a kernel that does not export it)
# there is nothing to wait for.
settle_s=0
reported_kib_file=/sys/module/page_reporting/parameters/reported_kib
settle_memory() {
  SETTLED_S=0
  [ "$settle_s" -gt 0 ] && [ -r "$reported_kib_file" ] || return 0
  local start last current quiet_polls=0
  start=$(now)
  last=$(cat "$reported_kib_file")
  for _ in $(seq $((settle_s * 2))); do
    sleep 0.5
    current=$(cat "$reported_kib_file")
    if [ "$current" != "$last" ]; then
      quiet_polls=0
      last=$current
    elif [ $((quiet_polls += 1)) -ge 6 ]; then
      break
    fi
  done
  SETTLED_S=$(seconds_since "$start")
}

# Every process whose pid is in `pids` is killed when the script exits.
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# measured NAME DIR COMMAND...: runs COMMAND in the background; its output
# goes to DIR/NAME.console and GNU time's figures to DIR/NAME.time (user s,
# system s, peak RSS KiB). With `tracer` set to strace, the command runs under
# `strace -f -c` (syscall counts of all its threads in DIR/NAME.strace). The
# pid is in STARTED and in pids.
tracer=""
measured() {
  local name=$1 dir=$2
  shift 2
  local trace=()
  [ "$tracer" = strace ] && trace=(strace -f -c -o "$dir/$name.strace")
  /usr/bin/time -f "%U %S %M" -o "$dir/$name.time" "${trace[@]}" "$@" > "$dir/$name.console" 2>&1 &
  STARTED=$!
  pids+=("$STARTED")
}

# live_exchange DIR INPUT [FLAG...]: one whole exchange on loopback, server
# and 4 clients with INPUT as data dir and FLAGs on every command line, logs in
# DIR/logs; each process measured as by `measured`. Fails the script if any
# process fails. Waits first as settle_memory does (SETTLED_S). Sets WALL_S to
# the seconds from the server's start to the last exit.
live_exchange() {
  local dir=$1 input=$2 start id status=0 waiting=()
  shift 2
  rm -rf "$dir" && mkdir -p "$dir"
  settle_memory
  start=$(now)
  measured server "$dir" "$bin/chunkex-server" --fresh --port 0 --port-file "$dir/port" \
    --log-dir "$dir/logs" "$@"
  waiting+=("$STARTED")
  for _ in $(seq 500); do [ -s "$dir/port" ] && break; sleep 0.01; done
  for id in A B C D; do
    measured "client$id" "$dir" "$bin/chunkex-client" --port "$(cat "$dir/port")" \
      --data-dir "$input" --out-dir "$dir/out" --log-dir "$dir/logs" "$@"
    waiting+=("$STARTED")
    for _ in $(seq 500); do grep -qs "joined as client" "$dir/client$id.console" && break; sleep 0.01; done
  done
  for pid in "${waiting[@]}"; do wait "$pid" || status=1; done
  WALL_S=$(seconds_since "$start")
  pids=()
  [ "$status" -eq 0 ] || { tail -n 5 "$dir"/*.console >&2; echo "bench: exchange in $dir failed" >&2; exit 1; }
  rm -rf "$dir/out"
}

# logs_identical DIR_A DIR_B: succeeds when the five logs are byte-identical.
logs_identical() {
  for log in Server ClientA ClientB ClientC ClientD; do
    cmp -s "$1/$log.txt" "$2/$log.txt" || return 1
  done
}
