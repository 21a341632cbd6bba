#!/usr/bin/env bash
# Throughput of Fluent Bit on the claude-audit fixture mix:
#   (a) tail + JSON parser, no filter            (the agent's own ceiling)
#   (b) the same + a trivial `lua` filter        (the usual way to customize records)
#   (c) the same + the claude-audit `wasm` filter, full normalization + redaction, in
#       `event_format: json` and in `event_format: msgpack` (+ the `parser` filter that unwraps
#       its answer, as in the README's Fluent Bit section); the interpreted module and,
#       with WAMRC, the AOT-compiled one
# each to a `null` output. Prints records/s for each.
#
# Usage: pipelines/bench/fluent-bit-bench.sh [RECORDS]          (default 200000)
#   FLUENT_BIT_BIN         fluent-bit binary (default: `fluent-bit` on PATH). Not built here.
#   CLAUDE_AUDIT_FB_MODULE the module (default target/wasm32-wasip1/wasm-release/claude_audit_plugin.wasm;
#                          build: cargo build -p claude-audit-plugin --target wasm32-wasip1 --profile wasm-release)
#   WAMRC                  wamrc of the WAMR your Fluent Bit bundles (5.1.1: WAMR 2.4.1); when set, the
#                          module is AOT-compiled (pipelines/README.md, AOT) and the AOT modes run too
#   WASM_RECORDS           records for the interpreted modes (default RECORDS; they are ~30x slower)
#   ROUNDS                 runs per mode, the median is printed (default 3)
#
# The check runs of every module mode must give byte-identical output (json vs msgpack, interpreted
# vs AOT): the script compares them and fails otherwise.
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
WASM_RECORDS=${WASM_RECORDS:-$RECORDS}
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

# Inputs: the fixture repeated up to RECORDS (and WASM_RECORDS) lines.
repeat() { awk -v n="$1" '{ line[NR] = $0 } END { for (i = 0; i < n; i++) print line[i % NR + 1] }' "$FIXTURE"; }
repeat "$RECORDS" > "$WORK/input.ndjson"
repeat "$WASM_RECORDS" > "$WORK/input-wasm.ndjson"

AOT=""
if [[ -n ${WAMRC:-} ]]; then
    AOT=$WORK/claude_audit_plugin.aot
    "$WAMRC" --target=x86_64 --disable-simd -o "$AOT" "$MODULE" > "$WORK/wamrc.log" 2>&1 ||
        { echo "wamrc failed:" >&2; cat "$WORK/wamrc.log" >&2; exit 1; }
fi

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

# wasm_filter MODULE FUNCTION FORMAT -> the wasm filter (and, for msgpack, the parser that unwraps)
wasm_filter() {
    echo "  filters:
    - name: wasm
      match: '*'
      wasm_path: $1
      function_name: $2
      event_format: $3
      accessible_paths: $WORK/claude-audit
      wasm_heap_size: 8M
      wasm_stack_size: 64K"
    if [[ $3 == msgpack ]]; then
        echo "    - name: parser
      match: '*'
      key_name: claude_audit_json
      parser: json_lines"
    fi
}

# config MODE INPUT OUTPUT-YAML -> a Fluent Bit YAML file
config() {
    local mode=$1 input=$2 output=$3 filter=""
    case $mode in
        lua)  filter="  filters:
    - name: lua
      match: '*'
      script: $WORK/bench.lua
      call: bench" ;;
        wasm-json)    filter=$(wasm_filter "$MODULE" claude_audit_filter json) ;;
        wasm-msgpack) filter=$(wasm_filter "$MODULE" claude_audit_filter_msgpack msgpack) ;;
        aot-json)     filter=$(wasm_filter "$AOT" claude_audit_filter json) ;;
        aot-msgpack)  filter=$(wasm_filter "$AOT" claude_audit_filter_msgpack msgpack) ;;
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
printf 'input: %d records (%d interpreted), fixture mix, median of %d rounds; load: %s\n' \
    "$RECORDS" "$WASM_RECORDS" "$ROUNDS" "$(uptime | sed 's/.*load/load/')"
printf '%-44s %9s %10s %8s\n' mode records records/s MiB/s

modes="none lua wasm-json wasm-msgpack"
[[ -n $AOT ]] && modes="$modes aot-json aot-msgpack"
for mode in $modes; do
    input=$WORK/input.ndjson
    if [[ $mode == wasm-* ]]; then
        input=$WORK/input-wasm.ndjson
        if [[ ! -f $MODULE ]]; then
            echo "$mode: skipped, module not found: $MODULE" >&2
            continue
        fi
    fi
    records=$(wc -l < "$input")
    bytes=$(wc -c < "$input")
    # Check run: every record must come out (a file output, counted).
    config "$mode" "$input" "    - name: file
      match: '*'
      path: $WORK
      file: check.out
      format: plain" > "$WORK/check.yaml"
    rm -f "$WORK/check.out"
    run_fb "$WORK/check.yaml" > /dev/null
    got=$(wc -l < "$WORK/check.out" 2>/dev/null || echo 0)
    if [[ $got -ne $records ]]; then
        echo "$mode: the check run emitted $got records instead of $records; log:" >&2
        tail -n 20 "$WORK/fb.log" >&2
        exit 1
    fi
    if [[ $mode == *-* ]]; then
        # Every module mode gives the same records (the first WASM_RECORDS of them).
        head -n "$WASM_RECORDS" "$WORK/check.out" > "$WORK/check.$mode"
        if [[ -f $WORK/check.reference ]]; then
            cmp -s "$WORK/check.reference" "$WORK/check.$mode" ||
                { echo "$mode: output differs from $(cat "$WORK/check.reference-mode")" >&2; exit 1; }
        else
            mv "$WORK/check.$mode" "$WORK/check.reference"
            echo "$mode" > "$WORK/check.reference-mode"
        fi
    fi
    config "$mode" "$input" "    - name: 'null'
      match: '*'" > "$WORK/full.yaml"
    net=$(for _ in $(seq "$ROUNDS"); do run_fb "$WORK/full.yaml"; done | median)
    case $mode in
        none)         label="(a) tail + json, no filter" ;;
        lua)          label="(b) + lua filter (one field)" ;;
        wasm-json)    label="(c) + claude-audit, json, interpreted" ;;
        wasm-msgpack) label="(d) + claude-audit, msgpack, interpreted" ;;
        aot-json)     label="(e) + claude-audit, json, AOT" ;;
        aot-msgpack)  label="(f) + claude-audit, msgpack, AOT" ;;
    esac
    printf '%-44s %9d %10.0f %8.1f\n' "$label" "$records" \
        "$(echo "$records / $net" | bc -l)" "$(echo "$bytes / 1048576 / $net" | bc -l)"
done
