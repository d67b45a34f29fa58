#!/usr/bin/env bash
# The whole exchange on loopback with awkward files: sizes with a partial last
# chunk, an empty file, and a file whose every chunk ends with the bytes
# "<END>" (the original design's delimiter, which its character-set strip ate).
# Checks the received files byte for byte, the final clocks everywhere against
# an independent model of docs/DESIGN.md §2-§3, and that the logs are
# byte-identical across runs and window sizes (docs/DESIGN.md §4).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IDS=(A B C D)
DATA=$SCRATCH/data

# ---------------------------------------------------------------- inputs ---
"$GEN_BIN" --data-dir "$DATA" --bytes 2500000 300000 0 --seed 11 >/dev/null
"$GEN_BIN" --data-dir "$SCRATCH/raw" --bytes $((4 * CHUNK)) --seed 12 >/dev/null
D_LAST=4321 # D: three full chunks and a partial one, every one ending in <END>
{
  for i in 0 1 2 3; do
    len=$CHUNK
    ((i == 3)) && len=$D_LAST
    dd if="$SCRATCH/raw/A.file" bs=65536 iflag=skip_bytes,count_bytes \
      skip=$((i * CHUNK)) count=$((len - 5)) status=none
    printf '<END>'
  done
} >"$DATA/D.file"
rm -rf "$SCRATCH/raw"

SIZES=(2500000 300000 0 $((3 * CHUNK + D_LAST)))
for i in 0 1 2 3; do
  [[ $(size_of "$DATA/${IDS[i]}.file") == "${SIZES[i]}" ]] || fail "input ${IDS[i]}.file has the wrong size"
done
for i in 0 1 2 3; do # sanity of the crafted file itself
  end=$(((i + 1) * CHUNK))
  ((i == 3)) && end=${SIZES[3]}
  tail_bytes=$(dd if="$DATA/D.file" bs=1 skip=$((end - 5)) count=5 status=none)
  [[ $tail_bytes == "<END>" ]] || fail "crafted D.file: chunk $i does not end with <END>"
done

# ------------------------------------------------------------------ runs ---

# run_exchange TAG WINDOW [SERVER ARGS...]: server + 4 clients, started one
# after another so that client i gets ID ${IDS[i]} and the file of that name.
# WINDOW is one number for all, or "SERVER/A,B,C,D" for different windows.
run_exchange() {
  local tag=$1 window=$2
  shift 2
  local dir=$SCRATCH/$tag id i=0 server_window=${window%%/*}
  local -a client_windows=("$window" "$window" "$window" "$window")
  if [[ $window == */* ]]; then IFS=, read -r -a client_windows <<<"${window#*/}"; fi
  mkdir -p "$dir"
  remove_on_success "$dir/out"
  SERVER_NAME=$tag-server start_server --log-dir "$dir/logs" --window "$server_window" "$@"
  for id in "${IDS[@]}"; do
    start_peer "$tag-$id" --data-dir "$DATA" --out-dir "$dir/out" --log-dir "$dir/logs" \
      --window "${client_windows[i]}"
    i=$((i + 1))
    wait_for_text "$SERVER_OUT" "[server] client $id joined" 10 "$SERVER_PID" "$CLIENT_PID"
  done
  for id in "${IDS[@]}"; do expect_exit "$tag-$id" 0 60; done
  expect_exit "$tag-server" 0 15
}

# check_run TAG CHUNK_BYTES COSTS_US: every assertion about one finished run.
check_run() {
  local tag=$1 chunk_bytes=$2 costs=$3
  local dir=$SCRATCH/$tag logs=$SCRATCH/$tag/logs out=$SCRATCH/$tag/out
  local model rounds expected_clocks id peer i f

  # Console and exit: all quiet on stderr, IDs in connection order.
  for f in "$SCRATCH/$tag"-*.err; do
    [[ ! -s $f ]] || fail "$f is not empty after a successful run: $(head -n 5 "$f")"
  done
  for id in "${IDS[@]}"; do
    assert_contains "$SCRATCH/$tag-$id.out" "joined as client $id of 4"
    assert_contains "$SCRATCH/$tag-$id.out" "3 files verified"
  done

  # Received files: exactly the 12 final names, byte-identical, no leftovers.
  local names=()
  for id in "${IDS[@]}"; do
    for peer in "${IDS[@]}"; do
      [[ $id == "$peer" ]] && continue
      names+=("${id}_${peer}_complete.file")
      assert_same_file "$DATA/$peer.file" "$out/${id}_${peer}_complete.file"
    done
  done
  local listing expected_listing
  listing=$(ls -A "$out" | sort)
  expected_listing=$(printf '%s\n' "${names[@]}" | sort)
  [[ $listing == "$expected_listing" ]] ||
    fail "$out holds other files than the 12 received ones (a .part left over?):
$listing"
  [[ $(count_files "$out" '*.part') == 0 ]] || fail "$out has .part files left"

  listing=$(ls -A "$logs" | sort | tr '\n' ' ')
  [[ $listing == "ClientA.txt ClientB.txt ClientC.txt ClientD.txt Server.txt summary.json " ]] ||
    fail "$logs holds unexpected files: $listing"

  # Clocks: the model, Server.txt, every ClientX.txt and summary.json agree.
  model=$(model_final "$(
    IFS=,
    echo "${SIZES[*]}"
  )" "$chunk_bytes" "$costs")
  rounds=${model%% *}
  expected_clocks=$(model_clocks_text "$model")
  local server_clocks
  server_clocks=$(final_clocks_of "$logs/Server.txt")
  [[ $server_clocks == "$expected_clocks" ]] ||
    fail "$tag: Server.txt final clocks '$server_clocks', the model gives '$expected_clocks'"
  for id in "${IDS[@]}"; do
    local client_clocks
    client_clocks=$(final_clocks_of "$logs/Client$id.txt")
    [[ $client_clocks == "$server_clocks" ]] ||
      fail "$tag: Client$id.txt final clocks '$client_clocks' differ from Server.txt '$server_clocks'"
  done
  assert_contains "$SCRATCH/$tag-server.out" "[server] final clocks $server_clocks"
  local -a model_us
  read -r -a model_us <<<"$model"
  for i in 0 1 2 3; do
    assert_json "$logs/summary.json" "final_clocks_us.${IDS[i]}" "${model_us[i + 1]}"
    local ms
    json_value "$logs/summary.json" "final_clocks_ms.${IDS[i]}"
    ms=$REPLY
    [[ $(ms_to_us "$ms") == "${model_us[i + 1]}" ]] ||
      fail "$tag: summary final_clocks_ms.${IDS[i]} is $ms, expected $(us_to_ms "${model_us[i + 1]}")"
  done

  # Summary: success, rounds, files, every pair verified, byte counts.
  assert_json "$logs/summary.json" success true
  assert_json "$logs/summary.json" rounds "$rounds"
  assert_json "$logs/summary.json" rejected_connections 0
  assert_json "$logs/summary.json" failure "<missing>"
  local total_input=0
  for i in 0 1 2 3; do
    id=${IDS[i]}
    assert_json "$logs/summary.json" "files.$id.size_bytes" "${SIZES[i]}"
    assert_json "$logs/summary.json" "files.$id.sha256" "$(sha256_of "$DATA/$id.file")"
    total_input=$((total_input + SIZES[i]))
    for peer in "${IDS[@]}"; do
      [[ $id == "$peer" ]] || assert_json "$logs/summary.json" "received.$id.$peer" verified
    done
  done
  local received sent total
  json_value "$logs/summary.json" bytes_relayed.received
  received=$REPLY
  json_value "$logs/summary.json" bytes_relayed.sent
  sent=$REPLY
  json_value "$logs/summary.json" bytes_relayed.total
  total=$REPLY
  ((total == received + sent)) || fail "$tag: bytes_relayed total $total != $received + $sent"
  # Each file travels to 3 peers: in from its owner 3 times, out 3 times.
  ((received >= 3 * total_input && sent >= 3 * total_input)) ||
    fail "$tag: relayed $received in / $sent out, less than 3 x $total_input bytes of files"

  # Logs: join lines carry the right files; no errors anywhere.
  for i in 0 1 2 3; do
    id=${IDS[i]}
    local count=$(((SIZES[i] + chunk_bytes - 1) / chunk_bytes))
    assert_contains "$logs/Server.txt" \
      "[Server] join $id: ${SIZES[i]} bytes, $count chunks, sha256 $(sha256_of "$DATA/$id.file")"
  done
  assert_contains "$logs/Server.txt" "start exchange: 4 clients, $chunk_bytes-byte chunks, at least "
  assert_contains "$logs/Server.txt" "every request IDLE: exchange complete after $rounds rounds"
  for f in "$logs"/*.txt; do
    assert_not_contains "$f" "error:"
    assert_not_contains "$f" "rejected connection"
  done
  note "$tag: $rounds rounds, final clocks $server_clocks"
}

run_exchange run1 2
check_run run1 "$CHUNK" "$DEFAULT_COSTS_US"

run_exchange run2 2
check_run run2 "$CHUNK" "$DEFAULT_COSTS_US"
diff -r -x summary.json "$SCRATCH/run1/logs" "$SCRATCH/run2/logs" >"$SCRATCH/diff-run2.txt" ||
  fail "logs of two identical runs differ: $(head -n 20 "$SCRATCH/diff-run2.txt")"

run_exchange window1 1
check_run window1 "$CHUNK" "$DEFAULT_COSTS_US"
diff -r -x summary.json "$SCRATCH/run1/logs" "$SCRATCH/window1/logs" >"$SCRATCH/diff-window1.txt" ||
  fail "logs with --window 1 differ from --window 2: $(head -n 20 "$SCRATCH/diff-window1.txt")"

run_exchange window64 64
check_run window64 "$CHUNK" "$DEFAULT_COSTS_US"
diff -r -x summary.json "$SCRATCH/run1/logs" "$SCRATCH/window64/logs" >"$SCRATCH/diff-window64.txt" ||
  fail "logs with --window 64 differ from --window 2: $(head -n 20 "$SCRATCH/diff-window64.txt")"

# Every program with its own window.
run_exchange mixed "5/1,64,3,2"
check_run mixed "$CHUNK" "$DEFAULT_COSTS_US"
diff -r -x summary.json "$SCRATCH/run1/logs" "$SCRATCH/mixed/logs" >"$SCRATCH/diff-mixed.txt" ||
  fail "logs with mixed windows differ from --window 2: $(head -n 20 "$SCRATCH/diff-mixed.txt")"

# Another configuration: odd chunk size (D's <END> marks now fall inside
# chunks), a zero cost and costs with three decimals. Clients take the chunk
# size and costs from the server.
cat >"$SCRATCH/custom.json" <<'EOF'
{
  "chunk_bytes": 100000,
  "window": 3,
  "costs_ms": {
    "A": { "chunk": 1.234, "other": 0.001 },
    "B": { "chunk": 0, "other": 0 },
    "C": { "chunk": 12.5, "other": 3 },
    "D": { "chunk": 0.25, "other": 0.75 }
  }
}
EOF
run_exchange custom 3 --config "$SCRATCH/custom.json"
check_run custom 100000 "1234:1,0:0,12500:3000,250:750"

note "all checks passed"
