// Rebuilds the vendored bundle and its licence file from the exact versions in package-lock.json.
import { build } from "esbuild";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "web", "ui", "static", "vendor", "codemirror");
mkdirSync(out, { recursive: true });

const options = {
  entryPoints: [join(here, "entry.js")],
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "CM",
  target: "es2020",
  legalComments: "none",
  outfile: join(out, "codemirror.min.js"),
};

// The packages with code in the bundle (esbuild's metafile names their files and bytes), for
// the banner and the licence file; type-only imports contribute nothing and are left out.
const probe = await build({ ...options, write: false, metafile: true });
const inputs = Object.values(probe.metafile.outputs)[0].inputs;
const names = new Set(
  Object.entries(inputs)
    .filter(([, info]) => info.bytesInOutput > 0)
    .map(([file]) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file))
    .filter(Boolean)
    .map((match) => match[1]),
);
const bundled = [...names].sort().map((name) => ({
  name,
  version: JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version,
}));
const banner = "/*! CodeMirror 6 for the template editor: " +
  bundled.map((p) => p.name + "@" + p.version).join(", ") + ". MIT licensed, see LICENSE. */";
await build({ ...options, banner: { js: banner } });

// One LICENSE: each bundled package's own licence text, under its name and version.
const texts = bundled.map(({ name, version }) => {
  const dir = join(here, "node_modules", name);
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? readFileSync(join(dir, file), "utf8").trim() : "(no licence file shipped)";
  return "## " + name + " " + version + "\n\n" + text + "\n";
});
writeFileSync(join(out, "LICENSE"), "Licences of the packages bundled in codemirror.min.js\n\n" + texts.join("\n"));
