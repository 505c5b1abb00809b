/**
 * What ditto knows about a GPU adapter: the facts the compiler selects kernels and sizes plans by,
 * and the runtime reports (runtime/device.ts fills it from the adapter). Plain data, so the
 * compiler can take it without depending on the runtime.
 */
export interface AdapterReport {
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  backend: string;
  isFallback: boolean;
  /** True for CPU implementations (lavapipe/llvmpipe, SwiftShader). Kernel selection uses it. */
  isSoftware: boolean;
  features: string[];
  subgroupMinSize: number;
  subgroupMaxSize: number;
  limits: Record<string, number>;
}
