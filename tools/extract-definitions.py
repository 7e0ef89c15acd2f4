#!/usr/bin/env python3
"""tools/extract-definitions.py - cut the R4 definitions the server loads.

The R4 specification ships its definitions as a few large Bundles
(profiles-resources.json, profiles-types.json, valuesets.json,
search-parameters.json). The server serves four resource types, so
profiles/definitions/ holds only what those four need, and prof_registry_load()
reads that at start-up:

  structure-definitions.json  Task, ServiceRequest, Patient, Practitioner,
                              their base types (Resource, DomainResource) and
                              every datatype reachable from them through
                              element types, type profiles and base
                              definitions. `text`, `mapping` (also inside
                              elements) and `differential` are dropped; the
                              snapshot and everything else are kept as is.
  valuesets.json              every ValueSet named by a `required` binding in
                              those StructureDefinitions, the ValueSets they
                              include, and the CodeSystems they draw codes
                              from, unchanged.
  search-parameters.json      the SearchParameters whose base names one of the
                              four types, Resource or DomainResource, unchanged.
  compartmentdefinition-patient.json
                              copied byte for byte.

A developer runs this by hand when the definitions change and commits the
output; the build never runs it. Python 3 standard library only.

    tools/extract-definitions.py [--src DIR] [--out DIR]
"""

import argparse
import json
import os
import shutil
import sys

SERVED = ["Task", "ServiceRequest", "Patient", "Practitioner"]
SEARCH_BASES = set(SERVED) | {"Resource", "DomainResource"}
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
FHIRPATH_PREFIX = "http://hl7.org/fhirpath/"


def strip_version(url):
    """'http://hl7.org/fhir/ValueSet/x|4.0.1' -> 'http://hl7.org/fhir/ValueSet/x'"""
    return url.split("|", 1)[0]


def load(path):
    """Parses a JSON file, refusing numbers Python would not write back
    byte for byte (the output promises unchanged content)."""

    def parse_float(lexeme):
        value = float(lexeme)
        if repr(value) != lexeme:
            sys.exit("%s: number %s would not round-trip" % (path, lexeme))
        return value

    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_float=parse_float)


def bundle_resources(bundle):
    return [(e.get("fullUrl"), e["resource"]) for e in bundle.get("entry", [])]


def write_bundle(path, entries):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            ({"fullUrl": url} if url else {}) | {"resource": res}
            for url, res in entries
        ],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(bundle, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return os.path.getsize(path)


def trim_sd(sd):
    """The StructureDefinition without narrative, mappings and differential."""
    out = {k: v for k, v in sd.items()
           if k not in ("text", "mapping", "differential")}
    snapshot = dict(out["snapshot"])
    snapshot["element"] = [
        {k: v for k, v in el.items() if k != "mapping"}
        for el in snapshot["element"]
    ]
    out["snapshot"] = snapshot
    return out


def sd_references(sd):
    """Names or canonical URLs of the StructureDefinitions `sd` builds on."""
    refs = []
    if sd.get("baseDefinition"):
        refs.append(sd["baseDefinition"])
    for el in sd.get("snapshot", {}).get("element", []):
        for t in el.get("type", []):
            code = t.get("code", "")
            if code and not code.startswith(FHIRPATH_PREFIX):
                refs.append(code)
            refs.extend(t.get("profile", []))
    return refs


def select_structure_definitions(resources, types, missing):
    """The served types and the closure of what they reference, in a stable
    order: resources first, then datatypes, each in source order."""
    by_key = {}
    order = []
    for fullurl, sd in bundle_resources(resources) + bundle_resources(types):
        if sd.get("resourceType") != "StructureDefinition":
            continue
        order.append(sd["url"])
        by_key[sd["url"]] = (fullurl, sd)
        if sd.get("derivation") != "constraint":
            by_key.setdefault(sd["type"], (fullurl, sd))

    chosen = set()
    todo = list(SERVED)
    while todo:
        key = strip_version(todo.pop())
        if key not in by_key:
            if not key.startswith(SD_PREFIX) or key[len(SD_PREFIX):] not in by_key:
                missing.add(key)
                continue
            key = key[len(SD_PREFIX):]
        url = by_key[key][1]["url"]
        if url in chosen:
            continue
        chosen.add(url)
        todo.extend(sd_references(by_key[key][1]))
    return [by_key[url] for url in order if url in chosen]


def required_bindings(sds):
    urls = []
    for _, sd in sds:
        for el in sd["snapshot"]["element"]:
            b = el.get("binding", {})
            if b.get("strength") == "required" and b.get("valueSet"):
                urls.append(strip_version(b["valueSet"]))
    return urls


def select_terminology(valuesets, roots, notes):
    """ValueSets reachable from `roots` through compose.include.valueSet and
    the CodeSystems their includes name, in source order."""
    by_url = {}
    order = []
    for fullurl, res in bundle_resources(valuesets):
        if res.get("resourceType") in ("ValueSet", "CodeSystem"):
            key = (res["resourceType"], res["url"])
            by_url[key] = (fullurl, res)
            order.append(key)

    chosen = set()
    todo = list(roots)
    while todo:
        url = strip_version(todo.pop())
        key = ("ValueSet", url)
        if key in chosen:
            continue
        if key not in by_url:
            notes.append("ValueSet %s: not in the source" % url)
            continue
        chosen.add(key)
        compose = by_url[key][1].get("compose", {})
        for inc in compose.get("include", []) + compose.get("exclude", []):
            todo.extend(inc.get("valueSet", []))
            system = inc.get("system")
            if system is None:
                continue
            if "filter" in inc:
                notes.append("ValueSet %s: filter on %s (not expanded by "
                             "the server)" % (url, system))
            cs = ("CodeSystem", strip_version(system))
            if cs in by_url:
                chosen.add(cs)
            elif "concept" not in inc:
                notes.append("ValueSet %s: CodeSystem %s not in the source "
                             "(codes not enumerable)" % (url, system))
    return [by_url[key] for key in order if key in chosen]


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=os.path.join(repo, "..", "shared",
                                                  "fhir-r4"),
                    help="R4 definitions directory (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(repo, "profiles",
                                                  "definitions"),
                    help="output directory (default %(default)s)")
    args = ap.parse_args()
    src = os.path.normpath(args.src)
    out = os.path.normpath(args.out)
    os.makedirs(out, exist_ok=True)

    resources = load(os.path.join(src, "profiles-resources.json"))
    types = load(os.path.join(src, "profiles-types.json"))
    missing = set()
    sds = select_structure_definitions(resources, types, missing)
    sds = [(url, trim_sd(sd)) for url, sd in sds]
    size = write_bundle(os.path.join(out, "structure-definitions.json"), sds)
    kinds = {}
    for _, sd in sds:
        kinds.setdefault(sd["kind"], []).append(sd["id"])
    print("structure-definitions.json: %d StructureDefinitions, %d bytes"
          % (len(sds), size))
    for kind in sorted(kinds):
        print("  %-15s %s" % (kind, " ".join(kinds[kind])))
    for key in sorted(missing):
        print("  not in the source: %s" % key)

    notes = []
    roots = required_bindings(sds)
    terms = select_terminology(load(os.path.join(src, "valuesets.json")),
                               roots, notes)
    size = write_bundle(os.path.join(out, "valuesets.json"), terms)
    nvs = sum(1 for _, r in terms if r["resourceType"] == "ValueSet")
    print("valuesets.json: %d ValueSets, %d CodeSystems, %d bytes "
          "(%d required bindings)"
          % (nvs, len(terms) - nvs, size, len(roots)))
    for note in sorted(set(notes)):
        print("  " + note)

    params = [(url, sp) for url, sp in
              bundle_resources(load(os.path.join(src,
                                                 "search-parameters.json")))
              if sp.get("resourceType") == "SearchParameter"
              and SEARCH_BASES.intersection(sp.get("base", []))]
    size = write_bundle(os.path.join(out, "search-parameters.json"), params)
    print("search-parameters.json: %d SearchParameters, %d bytes"
          % (len(params), size))

    name = "compartmentdefinition-patient.json"
    shutil.copyfile(os.path.join(src, name), os.path.join(out, name))
    print("%s: copied, %d bytes" % (name, os.path.getsize(os.path.join(out,
                                                                       name))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
