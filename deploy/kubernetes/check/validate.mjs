// Validates every document of a Kubernetes manifest against the API schemas of kubernetes-models;
// prints one line per object, writes the objects as JSON to the second argument (for the tests'
// cross-checks with what the silo reads), and exits 1 when any object is invalid or unknown.
//   node validate.mjs <manifest.yaml> [objects.json]
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [manifest, output] = process.argv.slice(2);
if (!manifest) {
  console.error("usage: node validate.mjs <manifest.yaml> [objects.json]");
  process.exit(2);
}

let failures = 0;
const objects = [];
for (const document of parseAllDocuments(readFileSync(manifest, "utf8"))) {
  if (document.errors.length > 0) {
    console.error(`invalid YAML: ${document.errors.map(e => e.message).join("; ")}`);
    failures++;
    continue;
  }

  const object = document.toJS();
  if (object === null || object === undefined) continue;
  const name = `${object.kind}/${object.metadata?.name ?? "?"}`;
  let model;
  try {
    model = (await import(`kubernetes-models/${object.apiVersion}`))[object.kind];
  } catch {
    model = undefined;
  }

  if (typeof model !== "function") {
    console.error(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
    failures++;
    continue;
  }

  try {
    new model(object).validate();
    console.log(`valid ${name} (${object.apiVersion})`);
    objects.push(object);
  } catch (error) {
    console.error(`${name}: ${error.message}`);
    failures++;
  }
}

if (output) writeFileSync(output, JSON.stringify(objects, null, 2));
process.exit(failures > 0 || objects.length === 0 ? 1 : 0);
