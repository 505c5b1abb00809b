/**
 * What ditto knows about a GPU adapter: the facts the compiler selects kernels and sizes plans by,
 * and the runtime reports (runtime/device.ts fills it from the adapter). Plain data, so the
 * compiler can take it without depending on the runtime.
 */
/** One shape Dawn's `chromium-experimental-subgroup-matrix` supports: left M×K, right K×N, result M×N. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

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
  /** Dawn's `adapter.info.subgroupMatrixConfigs` (shapes of the experimental subgroup-matrix feature), when it reports any. */
  subgroupMatrixConfigs?: SubgroupMatrixConfig[];
  limits: Record<string, number>;
}
