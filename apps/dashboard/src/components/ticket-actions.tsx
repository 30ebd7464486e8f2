import { cancelTicket, rerunTicket, type Ticket } from '../api';
import { ticketActions } from '../lib/actions';
import { useMe } from '../session';
import { ActionNotice } from './action-notice';
import { ConfirmButton } from './confirm-button';
import { ReadOnlyNote } from './task-actions';
import { cancelledText, rerunText } from './result-text';
import { useAction } from './use-action';

const OPEN = new Set(['PENDING', 'READY', 'DISPATCHED', 'RUNNING', 'RETRY_WAIT']);

/** Cancel an open ticket, rerun a final one's failures: for members and admins. */
export function TicketActions({ ticket, onChanged }: { ticket: Ticket; onChanged: () => void }) {
  const { role } = useMe();
  const action = useAction();
  const can = ticketActions(role, ticket.status, ticket.tasks);
  if (!can.cancel && !can.rerun && !action.notice) {
    const would = ticketActions('member', ticket.status, ticket.tasks);
    return role === 'viewer' && (would.cancel || would.rerun) ? <ReadOnlyNote /> : null;
  }
  const open = ticket.tasks.filter((t) => OPEN.has(t.status) || t.status.startsWith('AWAITING'));
  return (
    <div className="actions" data-testid="ticket-actions">
      <div className="action-buttons">
        {can.rerun ? (
          <button
            type="button"
            disabled={action.busy}
            onClick={() =>
              void action.run(async () => rerunText(await rerunTicket(ticket.id))).then(onChanged)
            }
          >
            Rerun failed tasks
          </button>
        ) : null}
        {can.cancel ? (
          <ConfirmButton
            label="Cancel ticket"
            danger
            disabled={action.busy}
            confirm="Yes, cancel the ticket"
            question={
              <>
                Cancel <strong>{ticket.title}</strong>? Its {open.length} open{' '}
                {open.length === 1 ? 'task is' : 'tasks are'} cancelled (running ones are stopped)
                and none of them runs again unless rerun.
              </>
            }
            onConfirm={() =>
              void action
                .run(async () => cancelledText(await cancelTicket(ticket.id)))
                .then(onChanged)
            }
          />
        ) : null}
      </div>
      <ActionNotice notice={action.notice} />
    </div>
  );
}
