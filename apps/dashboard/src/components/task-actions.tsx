import { cancelTask, rerunTask, type Task } from '../api';
import { openRequest, taskActions } from '../lib/actions';
import { useMe } from '../session';
import { ActionNotice } from './action-notice';
import { AnswerForm } from './answer-form';
import { ConfirmButton } from './confirm-button';
import { DecisionForm } from './decision-form';
import { cancelledText, rerunText } from './result-text';
import { useAction } from './use-action';

/**
 * What the signed-in key may do to the task in its status: cancel it, approve or
 * reject it at its gate, answer its request for input, rerun it. A viewer's key
 * gets none of them.
 */
export function TaskActions({ task, onChanged }: { task: Task; onChanged: () => void }) {
  const { role } = useMe();
  const action = useAction();
  const can = taskActions(role, task.status);
  const request = can.answer ? openRequest(task.inputs) : undefined;
  if (!can.cancel && !can.rerun && !can.decide && !request && !action.notice) {
    const would = taskActions('member', task.status);
    return role === 'viewer' && Object.values(would).some(Boolean) ? <ReadOnlyNote /> : null;
  }
  return (
    <div className="actions" data-testid="task-actions">
      {can.decide ? <DecisionForm taskId={task.id} action={action} onDone={onChanged} /> : null}
      {request ? (
        <AnswerForm
          key={request.id}
          taskId={task.id}
          request={request}
          action={action}
          onDone={onChanged}
        />
      ) : null}
      <div className="action-buttons">
        {can.rerun ? (
          <button
            type="button"
            disabled={action.busy}
            onClick={() =>
              void action.run(async () => rerunText(await rerunTask(task.id))).then(onChanged)
            }
          >
            Rerun task
          </button>
        ) : null}
        {can.cancel ? (
          <ConfirmButton
            label="Cancel task"
            danger
            disabled={action.busy}
            confirm="Yes, cancel it"
            question={
              <>
                Cancel <strong>{task.key}</strong>? A running attempt is stopped, the task is never
                retried, and the tasks that depend on it become blocked.
              </>
            }
            onConfirm={() =>
              void action.run(async () => cancelledText(await cancelTask(task.id))).then(onChanged)
            }
          />
        ) : null}
      </div>
      <ActionNotice notice={action.notice} />
    </div>
  );
}

/** Why a viewer sees no buttons where a member would. */
export function ReadOnlyNote() {
  return (
    <p className="muted small" data-testid="read-only-note">
      Your key is a viewer&apos;s: it reads everything but cannot cancel, approve, answer or rerun.
      Those take a member or admin key.
    </p>
  );
}
