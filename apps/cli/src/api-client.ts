import { DroverClient } from '@drover/client';
import { EventStream, type StreamHandlers } from './event-stream';

/**
 * The API as the CLI uses it: the typed client (`@drover/client`), with the
 * links it prints and the event stream (over Node's WebSocket, with the key in
 * its header).
 */
export class DroverApi extends DroverClient {
  constructor(
    baseUrl: string,
    private readonly apiKey?: string,
    /** DROVER_DASHBOARD_URL, when set. */
    readonly dashboardUrl?: string,
  ) {
    super({ baseUrl, apiKey });
  }

  /** Where a ticket or experiment is shown: the API's URL, and the dashboard's when there is one. */
  linksTo(kind: 'tickets' | 'experiments', id: string): { url: string; dashboardUrl?: string } {
    const at = (base: string) =>
      new URL(`${kind}/${id}`, base.endsWith('/') ? base : `${base}/`).toString();
    return {
      url: at(this.baseUrl),
      ...(this.dashboardUrl ? { dashboardUrl: at(this.dashboardUrl) } : {}),
    };
  }

  /**
   * Opens the event stream of one ticket: from `since` (0: its whole history),
   * or without it only what happens from now. It reconnects after a drop with
   * the last sequence seen; `close()` ends it.
   */
  events(ticketId: string, handlers: StreamHandlers, since?: number): EventStream {
    const url = new URL(this.eventsUrl({ ticket: ticketId }));
    const headers: Record<string, string> = this.apiKey
      ? { authorization: `Bearer ${this.apiKey}` }
      : {};
    return new EventStream(url, headers, handlers, since);
  }
}
