import type { ToggleSet } from '../dawnToggles.ts';

/** What a platform module (runtime/platform/node.ts or browser.ts) hands to runtime/device.ts. */
export interface PlatformGpu {
  /** The WebGPU entry point: Dawn's in Node, `navigator.gpu` in a browser. */
  gpu: GPU;
  /** The message of E_NO_ADAPTER on this platform: what to install or enable. */
  noAdapterHelp: string;
  /** Keeps a WebGPU object alive as long as the process (dawn.node needs it; a no-op in browsers). */
  keep: (o: unknown) => void;
  /** The Dawn toggles the instance was created with (none in a browser). */
  toggles: ToggleSet;
}
