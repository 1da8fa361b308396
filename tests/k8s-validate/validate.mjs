// Validates every object in the given YAML files against the Kubernetes OpenAPI schemas
// (kubernetes-models: types, required fields, enums). Prints one line per object, exits 1 on any error.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

const modules = {
  "v1": await import("kubernetes-models/v1"),
  "apps/v1": await import("kubernetes-models/apps/v1"),
  "policy/v1": await import("kubernetes-models/policy/v1"),
  "networking.k8s.io/v1": await import("kubernetes-models/networking.k8s.io/v1"),
};

let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (!doc) continue;
    const mod = modules[doc.apiVersion];
    const Model = mod?.[doc.kind];
    if (!Model) { console.log(`FAIL ${file}: no schema for ${doc.apiVersion}/${doc.kind}`); failed++; continue; }
    try {
      new Model(doc).validate();
      console.log(`ok   ${file}: ${doc.kind}/${doc.metadata?.name}`);
    } catch (e) {
      console.log(`FAIL ${file}: ${doc.kind}/${doc.metadata?.name}: ${e.message}`);
      failed++;
    }
  }
}
process.exit(failed ? 1 : 0);
