-- claude-audit: split the alerts the wasm filter attaches to their events.
--
-- Fluent Bit's `wasm` filter returns exactly one record per record, so with
-- `[plugin.detections] enabled = true` the claude-audit module attaches the
-- alerts an event raised to that event, as the array `claude_audit_alerts`.
-- This filter (after the wasm filter, before any routing) turns them back
-- into records of their own, each right after its event, which is what
-- `claude-audit run --batch-records 1` writes for the same input. Route
-- alerts on `event_type` (canonical), `class_uid` 2004 (OCSF) or
-- `event.kind` alert (ECS), e.g. with `rewrite_tag`.
--
--   filters:
--     - name: lua
--       match: 'claude.events.*'
--       script: /opt/claude-audit/split-alerts.lua
--       call: claude_audit_split_alerts
--       enable_flb_null: true    # keep null fields (a Lua nil would delete them)
--
-- Returns code 2 (records changed, timestamp kept): the alerts carry the
-- event's Fluent Bit timestamp; their own time is in the record.
function claude_audit_split_alerts(tag, timestamp, record)
  local alerts = record["claude_audit_alerts"]
  if alerts == nil then
    return 0, timestamp, record
  end
  record["claude_audit_alerts"] = nil
  local records = { record }
  for _, alert in ipairs(alerts) do
    records[#records + 1] = alert
  end
  return 2, timestamp, records
end
