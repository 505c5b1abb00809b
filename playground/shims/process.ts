/**
 * `process` for the modules that read it (display paths use process.cwd()). The page's virtual
 * file system is rooted at /ditto, the repository's layout (playground/build.ts).
 */
export const process = {
  cwd: (): string => '/ditto',
  env: {} as Record<string, string | undefined>,
  platform: 'browser',
  pid: 0,
};
