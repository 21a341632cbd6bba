#!/usr/bin/env bash
# Throughput of Fluent Bit on the claude-audit fixture mix, three ways:
#   (a) tail + JSON parser, no filter            (the agent's own ceiling)
#   (b) the same + a trivial `lua` filter        (the usual way to customize records)
#   (c) the same + the claude-audit `wasm` filter, full normalization + redaction
# each to a `null` output. Prints records/s for each.
#
# Usage: pipelines/bench/fluent-bit-bench.sh [RECORDS]          (default 200000)
#   FLUENT_BIT_BIN         fluent-bit binary (default: `fluent-bit` on PATH). Not built here.
#   CLAUDE_AUDIT_FB_MODULE the module (default target/wasm32-wasip1/wasm-release/claude_audit_plugin.wasm;
#                          build: cargo build -p claude-audit-plugin --target wasm32-wasip1 --profile wasm-release)
#   ROUNDS                 runs per mode, the median is printed (default 3)
#
# The module reads claude-audit.toml from the filter's accessible_paths: the script writes one
# (full redaction on, the TEST key tests/fixtures/test-hmac.key) into its own temporary folder.
#
# Timing: from Fluent Bit's own log, the time between the tail input starting and the tail input
# reaching the end of the file. Filters run as records are ingested, so that interval covers read
# + JSON parse + filter for every record, and excludes start-up (module load) and shutdown. A
# first, untimed run per mode writes to a file output and checks every record came out.
set -euo pipefail

RECORDS=${1:-200000}
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIXTURE=$ROOT/tests/fixtures/activities.ndjson
KEY=$ROOT/tests/fixtures/test-hmac.key
MODULE=${CLAUDE_AUDIT_FB_MODULE:-$ROOT/target/wasm32-wasip1/wasm-release/claude_audit_plugin.wasm}

FB=${FLUENT_BIT_BIN:-$(command -v fluent-bit || true)}
if [[ -z "$FB" || ! -x "$FB" ]]; then
    echo "fluent-bit not found: set FLUENT_BIT_BIN or put it on PATH" >&2
    exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Input: the fixture repeated up to RECORDS lines.
awk -v n="$RECORDS" '{ line[NR] = $0 } END { for (i = 0; i < n; i++) print line[i % NR + 1] }' \
    "$FIXTURE" > "$WORK/input.ndjson"
BYTES=$(wc -c < "$WORK/input.ndjson")

cat > "$WORK/bench.lua" <<'EOF'
function bench(tag, timestamp, record)
    record["bench"] = true
    return 1, timestamp, record
end
EOF

# The module's configuration folder (its accessible_paths).
mkdir -p "$WORK/claude-audit"
cp "$KEY" "$WORK/claude-audit/test-hmac.key"
cat > "$WORK/claude-audit/claude-audit.toml" <<EOF
[plugin.redaction]
enabled = true

[keys]
active = "k1"
hmac = [{ id = "k1", file = "$WORK/claude-audit/test-hmac.key" }]
EOF

# config MODE INPUT OUTPUT-YAML -> a Fluent Bit YAML file
config() {
    local mode=$1 input=$2 output=$3 filter=""
    case $mode in
        lua)  filter="  filters:
    - name: lua
      match: '*'
      script: $WORK/bench.lua
      call: bench" ;;
        wasm) filter="  filters:
    - name: wasm
      match: '*'
      wasm_path: $MODULE
      function_name: claude_audit_filter
      event_format: json
      accessible_paths: $WORK/claude-audit
      wasm_heap_size: 8M
      wasm_stack_size: 64K" ;;
    esac
    cat <<EOF
service:
  flush: 1
  grace: 1
  log_level: info
parsers:
  - name: json_lines
    format: json
pipeline:
  inputs:
    - name: tail
      tag: bench
      path: $input
      parser: json_lines
      read_from_head: true
      exit_on_eof: true
      buffer_chunk_size: 256K
      buffer_max_size: 1M
  $( [[ -n $filter ]] && echo "${filter#  }" )
  outputs:
$output
EOF
}

run_fb() { # run_fb CONFIG -> seconds between tail start and end of file (from the log)
    "$FB" -c "$1" > "$WORK/fb.log" 2>&1 ||
        { echo "fluent-bit failed:" >&2; cat "$WORK/fb.log" >&2; exit 1; }
    awk '
        function secs(line,   t) { t = substr(line, 13, 12); split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
        /\[input:tail:tail.0\] initializing/ { start = secs($0) }
        /\[input:tail:tail.0\].* ended, stop/ && !end { end = secs($0) }
        END {
            if (!start || !end) { print "no start/end lines in the log" > "/dev/stderr"; exit 1 }
            d = end - start; if (d < 0) d += 86400; if (d < 0.001) d = 0.001; print d
        }' "$WORK/fb.log"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf 'fluent-bit: %s\n' "$("$FB" --version | head -n 1)"
printf 'input: %d records, %.1f MiB (fixture mix), median of %d rounds\n' \
    "$RECORDS" "$(echo "$BYTES / 1048576" | bc -l)" "$ROUNDS"
printf '%-34s %12s %10s\n' mode records/s MiB/s

for mode in none lua wasm; do
    if [[ $mode == wasm ]]; then
        if [[ ! -f $MODULE ]]; then
            echo "(c) wasm: skipped, module not found: $MODULE" >&2
            continue
        fi
    fi
    # Check run: every record must come out (a file output, counted).
    config "$mode" "$WORK/input.ndjson" "    - name: file
      match: '*'
      path: $WORK
      file: check.out
      format: plain" > "$WORK/check.yaml"
    rm -f "$WORK/check.out"
    run_fb "$WORK/check.yaml" > /dev/null
    got=$(wc -l < "$WORK/check.out" 2>/dev/null || echo 0)
    if [[ $got -ne $RECORDS ]]; then
        echo "$mode: the check run emitted $got records instead of $RECORDS; log:" >&2
        tail -n 20 "$WORK/fb.log" >&2
        exit 1
    fi
    config "$mode" "$WORK/input.ndjson" "    - name: 'null'
      match: '*'" > "$WORK/full.yaml"
    net=$(for _ in $(seq "$ROUNDS"); do run_fb "$WORK/full.yaml"; done | median)
    case $mode in
        none) label="(a) tail + json, no filter" ;;
        lua)  label="(b) + lua filter (one field)" ;;
        wasm) label="(c) + claude-audit wasm (redaction)" ;;
    esac
    printf '%-34s %12.0f %10.1f\n' "$label" \
        "$(echo "$RECORDS / $net" | bc -l)" "$(echo "$BYTES / 1048576 / $net" | bc -l)"
done
