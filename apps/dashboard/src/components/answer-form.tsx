import { useRef, useState } from 'react';
import { answerInput, type InputRequest } from '../api';
import { nowText } from './result-text';
import type { Action } from './use-action';

/**
 * Answers a task's open request for input. A secret request's answer goes in a
 * password field that React does not control: the value is never in the page's
 * state nor in an attribute, the field is emptied once sent, and the API never
 * returns it.
 */
export function AnswerForm({
  taskId,
  request,
  action,
  onDone,
}: {
  taskId: string;
  request: InputRequest;
  action: Action;
  onDone: () => void;
}) {
  const [value, setValue] = useState('');
  const secret = useRef<HTMLInputElement>(null);
  const choices = request.choices ?? [];
  const send = () => {
    const answer = request.secret ? (secret.current?.value ?? '') : value;
    // A secret leaves the page once sent, whatever the answer was.
    if (secret.current) secret.current.value = '';
    void action
      .run(async () => {
        const task = await answerInput(taskId, answer, request.name);
        return nowText(`Answered ${request.name}`, task.status);
      })
      .then((ok) => {
        if (ok) {
          setValue('');
          onDone();
        }
      });
  };
  return (
    <form
      className="action-form"
      aria-label="input request"
      autoComplete="off"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      <p className="attention">
        The task asks for <code>{request.name}</code>
        {request.secret ? ' (a secret)' : ''}: {request.prompt}
      </p>
      <label className="stacked">
        {request.name}
        {choices.length ? (
          <select name="value" value={value} onChange={(e) => setValue(e.target.value)} required>
            <option value="" disabled>
              choose…
            </option>
            {choices.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        ) : request.secret ? (
          <input
            ref={secret}
            name="value"
            type="password"
            autoComplete="new-password"
            spellCheck={false}
          />
        ) : (
          <input
            name="value"
            type="text"
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
        )}
      </label>
      {request.secret ? (
        <p className="muted small">
          Sealed before it is stored, never shown again and masked as *** in logs.
        </p>
      ) : null}
      <div className="action-buttons">
        <button type="submit" disabled={action.busy || (choices.length > 0 && !value)}>
          Send answer
        </button>
      </div>
    </form>
  );
}
