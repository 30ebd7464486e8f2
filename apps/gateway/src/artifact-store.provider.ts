import type { Provider } from '@nestjs/common';
import { GatewayConfig } from '@drover/config';
import { artifactStoreFrom, type ArtifactStore } from '@drover/storage';

/** Injection token of the artifact store (a port: tests and deployments choose the backend). */
export const ARTIFACT_STORE = Symbol('ARTIFACT_STORE');

/** The store `DROVER_ARTIFACTS` names: the one the runners write to. */
export const artifactStoreProvider: Provider<ArtifactStore> = {
  provide: ARTIFACT_STORE,
  inject: [GatewayConfig],
  useFactory: (config: GatewayConfig) => artifactStoreFrom(config),
};
