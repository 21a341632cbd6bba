#!/usr/bin/env python3
"""Generate the compact validation schemas the profile tests use.

Reads a checkout of the OCSF schema (github.com/ocsf/ocsf-schema) at a release
and the ECS repository (github.com/elastic/ecs) at a release tag, both kept
OUTSIDE this repository, and writes:

  ocsf-<version>.schema.json  one JSON Schema (2020-12) per OCSF class we emit,
                              under `classes.<class_uid>`, sharing `$defs` for
                              every object reachable from them. Attributes,
                              types (with the dictionary's regexes for ip_t,
                              email_t, ...), enums of integer `*_id` attributes,
                              `required`, and class/object constraints come
                              from the class, its parents and the dictionary;
                              `x-recommended` lists recommended attributes.
                              Unknown attributes are refused
                              (additionalProperties: false).
  ecs-<version>.schema.json   a JSON Schema of the ECS field sets we emit (from
                              generated/ecs/ecs_flat.yml): every field with its
                              JSON type, nested by dotted name, unknown fields
                              refused except under the custom namespace
                              `claude_audit`, the allowed values of
                              event.kind/category/type/outcome, and one
                              if/then rule per category: its event.type values
                              must be among that category's expected types.

Usage (see tests/schemas/README.md):
  python3 tests/schemas/generate.py OCSF_DIR ECS_DIR tests/schemas
"""
import glob
import json
import os
import sys

import yaml

# OCSF classes the profile emits (plugin/data/profiles.tsv), plus Detection
# Finding for the coming alerts.
OCSF_CLASSES = ["authentication", "account_change", "entity_management",
                "user_access", "group_management", "web_resources_activity",
                "api_activity", "file_hosting", "detection_finding"]
# ECS field sets the profile writes.
ECS_FIELDSETS = ["base", "ecs", "event", "user", "source", "user_agent",
                 "organization", "file", "url", "related", "http", "rule",
                 "threat"]
ECS_CUSTOM = "claude_audit"


def load(path):
    with open(path) as f:
        return json.load(f)


class Ocsf:
    def __init__(self, root):
        self.root = root
        self.version = load(os.path.join(root, "version.json"))["version"]
        self.dictionary = load(os.path.join(root, "dictionary.json"))
        self.types = self.dictionary["types"]["attributes"]
        self.attrs = self.dictionary["attributes"]
        self.categories = load(os.path.join(root, "categories.json"))["attributes"]
        self.events = {}
        for path in glob.glob(os.path.join(root, "events", "**", "*.json"), recursive=True):
            d = load(path)
            d["_dir"] = os.path.basename(os.path.dirname(path))
            self.events[d["name"]] = d
        self.objects = {}
        for path in glob.glob(os.path.join(root, "objects", "*.json")):
            d = load(path)
            self.objects[d["name"]] = d

    def merged(self, item, table):
        """Attributes of a class or object with its parents' and includes."""
        attrs = {}
        parent = item.get("extends")
        if parent and parent in table:
            attrs.update(self.merged(table[parent], table))
        own = dict(item.get("attributes", {}))
        for inc in own.pop("$include", []):
            inc_attrs = load(os.path.join(self.root, inc)).get("attributes", {})
            optional = inc.startswith("profiles/")
            for name, spec in inc_attrs.items():
                spec = dict(spec)
                if optional:  # profile attributes: allowed, never required
                    spec["requirement"] = "optional"
                attrs.setdefault(name, spec)
        for name, spec in own.items():
            merged = dict(attrs.get(name, {}))
            enum = dict(merged.get("enum", {}))
            enum.update(spec.get("enum", {}))
            merged.update(spec)
            if enum:
                merged["enum"] = enum
            attrs[name] = merged
        return attrs

    def constraints(self, item, table):
        c = {}
        parent = item.get("extends")
        if parent and parent in table:
            c.update(self.constraints(table[parent], table))
        c.update(item.get("constraints", {}))
        return c

    def base_type(self, t):
        chain = t
        while chain in self.types and self.types[chain].get("type"):
            chain = self.types[chain]["type"]
        return chain

    def prop(self, name, spec, todo):
        d = self.attrs.get(name, {})
        t = spec.get("type") or d.get("type")
        s = {}
        if t == "object_t" or (t not in self.types and t):
            obj = spec.get("object_type") or d.get("object_type") or t
            if obj == "object":  # OCSF's generic object (`unmapped`, `data`): any keys
                s = {"type": "object"}
            else:
                todo.add(obj)
                s = {"$ref": f"#/$defs/{obj}"}
        elif t == "json_t":
            s = {}
        else:
            base = self.base_type(t)
            s = {"type": {"string_t": "string", "integer_t": "integer",
                          "long_t": "integer", "float_t": "number",
                          "boolean_t": "boolean"}[base]}
            info = self.types.get(t, {})
            if info.get("regex") and t in ("ip_t", "email_t", "datetime_t", "mac_t", "uuid_t"):
                s["pattern"] = info["regex"]
            if info.get("max_len"):
                s["maxLength"] = info["max_len"]
            if info.get("range"):
                s["minimum"], s["maximum"] = info["range"]
            enum = dict(d.get("enum", {}))
            enum.update(spec.get("enum", {}))
            if enum and s["type"] == "integer":
                s["enum"] = sorted(int(k) for k in enum)
        if spec.get("is_array", d.get("is_array")):
            s = {"type": "array", "items": s}
        return s

    def schema(self, attrs, constraints, todo):
        props = {n: self.prop(n, spec, todo) for n, spec in sorted(attrs.items())}
        out = {"type": "object", "properties": props,
               "required": sorted(n for n, s in attrs.items() if s.get("requirement") == "required"),
               "x-recommended": sorted(n for n, s in attrs.items() if s.get("requirement") == "recommended"),
               "additionalProperties": False}
        rules = []
        for names in [constraints["at_least_one"]] if "at_least_one" in constraints else []:
            rules.append({"anyOf": [{"required": [n]} for n in names]})
        for names in [constraints["just_one"]] if "just_one" in constraints else []:
            rules.append({"oneOf": [{"required": [n]} for n in names]})
        if rules:
            out["allOf"] = rules
        return out

    def generate(self):
        todo, classes = set(), {}
        for name in OCSF_CLASSES:
            ev = self.events[name]
            cat = self.categories[ev["category"] if "category" in ev else ev["_dir"]]
            uid = cat["uid"] * 1000 + ev["uid"]
            s = self.schema(self.merged(ev, self.events), self.constraints(ev, self.events), todo)
            s["title"] = f"OCSF {self.version} {ev['caption']} ({uid})"
            s["properties"]["class_uid"]["enum"] = [uid]
            s["properties"]["category_uid"]["enum"] = [cat["uid"]]
            acts = s["properties"]["activity_id"]["enum"]
            s["properties"]["type_uid"]["enum"] = [uid * 100 + a for a in acts]
            classes[str(uid)] = s
        defs, done = {}, set()
        while todo:
            name = todo.pop()
            if name in done:
                continue
            done.add(name)
            obj = self.objects[name]
            defs[name] = self.schema(self.merged(obj, self.objects), self.constraints(obj, self.objects), todo)
            defs[name]["title"] = obj["caption"]
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "$comment": f"Generated by tests/schemas/generate.py from ocsf/ocsf-schema v{self.version}. Do not edit.",
                "x-ocsf-version": self.version,
                "classes": classes, "$defs": dict(sorted(defs.items()))}


def ecs_json_type(field):
    t = field["type"]
    if t in ("long", "integer", "short", "byte", "unsigned_long"):
        s = {"type": "integer"}
    elif t in ("float", "scaled_float", "double", "half_float"):
        s = {"type": "number"}
    elif t == "boolean":
        s = {"type": "boolean"}
    elif t in ("object", "flattened", "nested"):
        s = {"type": "object"}
    elif t == "ip":
        s = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
    elif t == "date":
        s = {"type": "string", "format": "date-time"}
    else:
        s = {"type": "string"}
    if "allowed_values" in field:
        s["enum"] = [v["name"] for v in field["allowed_values"]]
    if "array" in field.get("normalize", []):
        return {"anyOf": [s, {"type": "array", "items": s}]}
    return s


def nest(tree, parts, leaf):
    node = tree
    for p in parts[:-1]:
        node = node.setdefault("properties", {}).setdefault(p, {"type": "object", "additionalProperties": False})
    node.setdefault("properties", {})[parts[-1]] = leaf


def ecs(root):
    version = open(os.path.join(root, "version")).read().strip()
    with open(os.path.join(root, "generated", "ecs", "ecs_flat.yml")) as f:
        flat = yaml.safe_load(f)
    tree = {"type": "object", "additionalProperties": False}
    for name, field in sorted(flat.items()):
        if field.get("original_fieldset", name.split(".")[0] if "." in name else "base") is None:
            continue
        fieldset = name.split(".")[0] if "." in name else "base"
        if fieldset not in ECS_FIELDSETS and not (name.startswith("user.") and field.get("original_fieldset") == "user"):
            continue
        nest(tree, name.split("."), ecs_json_type(field))
    tree["properties"][ECS_CUSTOM] = {"type": "object"}
    rules = []
    for value in flat["event.category"]["allowed_values"]:
        rules.append({
            "if": {"properties": {"event": {"properties": {"category": {"contains": {"const": value["name"]}}}}},
                   "required": ["event"]},
            "then": {"properties": {"event": {"properties": {"type": {
                "type": "array", "items": {"enum": value["expected_event_types"]}}}}}},
        })
    tree["allOf"] = rules
    tree["required"] = ["@timestamp", "ecs", "event"]
    return version, {"$schema": "https://json-schema.org/draft/2020-12/schema",
                     "$comment": f"Generated by tests/schemas/generate.py from elastic/ecs v{version} generated/ecs/ecs_flat.yml (field sets {', '.join(ECS_FIELDSETS)}). Do not edit.",
                     "x-ecs-version": version, **tree}


def main():
    ocsf_dir, ecs_dir, out = sys.argv[1:4]
    o = Ocsf(ocsf_dir)
    with open(os.path.join(out, f"ocsf-{o.version}.schema.json"), "w") as f:
        json.dump(o.generate(), f, indent=1, sort_keys=False)
        f.write("\n")
    version, schema = ecs(ecs_dir)
    with open(os.path.join(out, f"ecs-{version}.schema.json"), "w") as f:
        json.dump(schema, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
