// Writes VERSIONS.json, LICENSES.txt and bundle.json next to the vendored files.
//
// Which packages a file contains comes from esbuild's metafile (every input it read),
// their exact versions from package-lock.json and their licence texts from the
// packages themselves, so the record can never list less than what is shipped.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [metafilePath, vendor] = process.argv.slice(2);
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));

// "node_modules/@scope/name/dist/x.js" → "@scope/name"; "node_modules/a/b.js" → "a".
function packageOf(input) {
  const rest = input.split("node_modules/").pop().split("/");
  return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
}

const metafile = JSON.parse(readFileSync(metafilePath, "utf8"));
const inBundle = [...new Set(Object.keys(metafile.inputs).filter((i) => i.includes("node_modules/")).map(packageOf))].sort();
const files = { "codemirror.js": inBundle, "htmx.min.js": ["htmx.org"] };

const shipped = [...new Set(Object.values(files).flat())].sort();
const versions = {};
const licences = [];
for (const name of shipped) {
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry) throw new Error(`${name} is bundled but not in package-lock.json`);
  versions[name] = entry.version;
  const dir = join("node_modules", name);
  const licenceFile = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  if (!licenceFile) throw new Error(`${name} ships no licence file; add its text by hand before bundling it`);
  const text = readFileSync(join(dir, licenceFile), "utf8").trim();
  // A heading no licence text starts a line with (htmx's own has a rule of "=").
  licences.push(`==> ${name} ${entry.version} (${entry.license}) <==\n\n${text}\n`);
}

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");
const summary = {
  files,
  // The sources the bundle was built from, so a test can tell a stale bundle.
  sources: { "editor.js": sha256("editor.js"), "package-lock.json": sha256("package-lock.json") },
};

writeFileSync(join(vendor, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
writeFileSync(join(vendor, "bundle.json"), JSON.stringify(summary, null, 2) + "\n");
writeFileSync(
  join(vendor, "LICENSES.txt"),
  "Licences of the front-end packages shipped in this folder (collected by assets/collect.mjs).\n\n" +
    licences.join("\n"),
);
