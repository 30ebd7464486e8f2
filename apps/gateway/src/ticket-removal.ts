import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ArtifactStore } from '@drover/storage';
import { ARTIFACT_STORE } from './artifact-store.provider';
import { OrchestratorCommands } from './orchestrator-commands';

/**
 * Deletes a final ticket (or an experiment's): the orchestrator removes its rows,
 * then its runs' stored files follow. A file that cannot be removed is logged:
 * no row serves it any more.
 */
@Injectable()
export class TicketRemoval {
  private readonly logger = new Logger(TicketRemoval.name);

  constructor(
    private readonly commands: OrchestratorCommands,
    @Inject(ARTIFACT_STORE) private readonly store: ArtifactStore,
  ) {}

  async remove(projectId: string, ticketId: string) {
    const reply = await this.commands.deleteTicket({ ticketId, projectId });
    let removed = 0;
    for (const runId of reply.runIds) {
      try {
        await this.store.removeRun(runId);
        removed++;
      } catch (error) {
        this.logger.warn(`artifacts of run ${runId} not removed: ${(error as Error).message}`);
      }
    }
    return {
      tasks: reply.tasks,
      runs: reply.runIds.length,
      events: reply.events,
      artifactsRemovedForRuns: removed,
    };
  }
}
