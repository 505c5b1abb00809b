/** node:url for the browser bundle: module URLs are file:///ditto/… (playground/build.ts rewrites import.meta.url). */
export function fileURLToPath(url: string | URL): string {
  return decodeURIComponent(new URL(String(url)).pathname);
}
export function pathToFileURL(p: string): URL {
  return new URL(`file://${p}`);
}
export default { fileURLToPath, pathToFileURL };
