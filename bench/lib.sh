# Shared by the bench scripts: sourced after `bin` (the Release build) is set.

# ensure_workload DIR CHUNKS: DIR/input holds chunkex-gen's 4 files of CHUNKS
# chunks (seed 1), generated only when they are not there already.
ensure_workload() {
  local dir=$1 chunks=$2 stamp="chunks=$2 seed=1"
  if [ "$(cat "$dir/input/.workload" 2>/dev/null)" != "$stamp" ]; then
    "$bin/chunkex-gen" --data-dir "$dir/input" --chunks "$chunks" --seed 1 >/dev/null
    echo "$stamp" > "$dir/input/.workload"
  fi
}

# Every process whose pid is in `pids` is killed when the script exits.
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
