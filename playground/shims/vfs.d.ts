/** The virtual module playground/build.ts generates: repository path → file bytes (base64). */
declare module 'ditto-vfs' {
  export const files: Record<string, string>;
}
