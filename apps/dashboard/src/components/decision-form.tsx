import { useState } from 'react';
import { approveTask, rejectTask } from '../api';
import { nowText } from './result-text';
import type { Action } from './use-action';

/** Most characters of a decision's comment (the contracts' DECISION_LIMITS). */
const COMMENT_MAX = 4000;

/** Approve or reject a task at its approval gate, with an optional comment that is kept. */
export function DecisionForm({
  taskId,
  action,
  onDone,
}: {
  taskId: string;
  action: Action;
  onDone: () => void;
}) {
  const [comment, setComment] = useState('');
  const decide = (approve: boolean) =>
    void action
      .run(async () => {
        const text = comment.trim() || undefined;
        const task = await (approve ? approveTask(taskId, text) : rejectTask(taskId, text));
        return nowText(approve ? 'Approved' : 'Rejected', task.status);
      })
      .then((ok) => {
        if (!ok) return;
        setComment('');
        onDone();
      });
  return (
    <form
      className="action-form"
      aria-label="approval"
      onSubmit={(event) => {
        event.preventDefault();
        decide(true);
      }}
    >
      <p className="attention">This task waits for approval before it runs.</p>
      <label className="stacked">
        Comment (optional, kept with the decision)
        <textarea
          name="comment"
          rows={2}
          maxLength={COMMENT_MAX}
          value={comment}
          onChange={(e) => setComment(e.target.value)}
        />
      </label>
      <div className="action-buttons">
        <button type="submit" disabled={action.busy}>
          Approve
        </button>
        <button
          type="button"
          className="danger"
          disabled={action.busy}
          onClick={() => decide(false)}
        >
          Reject
        </button>
      </div>
    </form>
  );
}
