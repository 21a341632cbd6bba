-- Alert routing for Fluent Bit (alerts.yaml): which records are alerts, and the request bodies
-- of the ticketing webhook and of PagerDuty Events v2. Both APIs take one JSON object per
-- request, which Fluent Bit's `http` output sends only in its body_key/headers_key mode (one
-- request per record, the body a string); Fluent Bit's Lua has no JSON library, so the small
-- encoder below writes the body. The field mapping is documented in pipelines/README.md
-- ("Alert routing").

local function escape(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
    return named[c] or string.format('\\u%04x', c:byte())
  end) .. '"'
end

-- A table with keys 1..n only is an array; any other table an object (keys sorted, so the
-- same alert always gives the same bytes).
local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return n > 0
end

local function encode(v)
  local kind = type(v)
  if kind == 'string' then return escape(v) end
  if kind == 'number' then
    if v == math.floor(v) and math.abs(v) < 2^53 then return string.format('%d', v) end
    return string.format('%.17g', v)
  end
  if kind == 'boolean' then return tostring(v) end
  if kind ~= 'table' then return 'null' end
  local parts = {}
  if is_array(v) then
    for _, item in ipairs(v) do parts[#parts + 1] = encode(item) end
    return '[' .. table.concat(parts, ',') .. ']'
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = escape(k) .. ':' .. encode(v[k]) end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Alerts (event_type claude_audit.alert, is_alert true) pass; events and the informational
-- parity signals (is_alert false) are dropped here: they reach the SIEM through siem-outputs.
function claude_audit_alerts_only(tag, ts, record)
  if record.event_type == 'claude_audit.alert' and record.is_alert == true then
    return 0, ts, record
  end
  return -1, ts, record
end

local function summary(a)
  local text = string.format('[claude-audit %s] %s: %s (%s)', a.rule.severity, a.rule.id,
    a.rule.title, a.group.key)
  return text:sub(1, 1024)           -- PagerDuty's limit
end

local function details(a)
  return {
    alert_id = a.event_id,
    rule_id = a.rule.id,
    detection = a.rule.detection,
    severity = a.rule.severity,
    tags = a.rule.tags,
    group_key = a.group.key,
    window_start = a.window.start,
    window_end = a.window['end'],
    related_events = a.related_events,
    related_events_count = a.related_events_count,
    organization_uuid = a.organization_uuid,
  }
end

local JSON_HEADERS = { ['Content-Type'] = 'application/json' }

-- PagerDuty Events v2 (`POST /v2/enqueue`): trigger, deduplicated on the alert's
-- deterministic id. Severity: critical -> critical, high -> error (only these two are routed).
local PAGERDUTY_SEVERITY = { critical = 'critical', high = 'error', medium = 'warning', low = 'info' }

function claude_audit_pagerduty(tag, ts, record)
  local body = {
    routing_key = record.pagerduty_routing_key,
    event_action = 'trigger',
    dedup_key = record.event_id,
    client = 'claude-audit',
    payload = {
      summary = summary(record),
      source = 'claude-audit',
      severity = PAGERDUTY_SEVERITY[record.rule.severity] or 'error',
      timestamp = record.timestamp,
      component = 'anthropic-compliance-api',
      group = record.rule.id,
      class = record.rule.detection,
      custom_details = details(record),
    },
  }
  return 1, ts, { body = encode(body), headers = JSON_HEADERS }
end

-- The ticketing webhook: a ServiceNow incident (Table API `POST /api/now/table/incident`)
-- shape; urgency and impact 1 = high ... 3 = low. correlation_id = the alert id, so a repeat
-- of the same alert can update the ticket instead of opening another.
local URGENCY = { critical = '1', high = '1', medium = '2', low = '3', informational = '3' }
local IMPACT = { critical = '1', high = '2', medium = '2', low = '3', informational = '3' }

function claude_audit_ticket(tag, ts, record)
  local body = {
    short_description = summary(record):sub(1, 160),
    description = string.format('%s\nRule %s/%s, severity %s, group %s, window %s .. %s, %d related events.',
      record.rule.title, record.rule.id, record.rule.detection, record.rule.severity,
      record.group.key, record.window.start, record.window['end'], record.related_events_count),
    urgency = URGENCY[record.rule.severity] or '2',
    impact = IMPACT[record.rule.severity] or '2',
    category = 'security',
    correlation_id = record.event_id,
    correlation_display = 'claude-audit',
    u_claude_audit = details(record),
  }
  return 1, ts, { body = encode(body), headers = JSON_HEADERS }
end
