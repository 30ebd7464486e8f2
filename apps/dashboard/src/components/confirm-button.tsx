import { useEffect, useRef, useState, type ReactNode } from 'react';

interface Props {
  /** The button's label ("Cancel task"). */
  label: string;
  /** The question the dialog asks, and what will happen. */
  question: ReactNode;
  /** The confirming button's label ("Yes, cancel it"). */
  confirm: string;
  disabled?: boolean;
  danger?: boolean;
  onConfirm: () => void;
}

/**
 * A button for a destructive action: it asks first, in a modal dialog, and does
 * nothing unless the person confirms (Escape or "Keep" closes it).
 */
export function ConfirmButton({ label, question, confirm, disabled, danger, onConfirm }: Props) {
  const [open, setOpen] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);
  return (
    <>
      <button
        type="button"
        className={danger ? 'danger' : undefined}
        disabled={disabled}
        onClick={() => setOpen(true)}
      >
        {label}
      </button>
      <dialog
        ref={dialog}
        className="confirm"
        aria-label={label}
        onClose={() => setOpen(false)}
        onCancel={() => setOpen(false)}
      >
        {open ? (
          <>
            <p>{question}</p>
            <div className="confirm-buttons">
              <button type="button" className="secondary" onClick={() => setOpen(false)} autoFocus>
                Keep
              </button>
              <button
                type="button"
                className={danger ? 'danger' : undefined}
                onClick={() => {
                  setOpen(false);
                  onConfirm();
                }}
              >
                {confirm}
              </button>
            </div>
          </>
        ) : null}
      </dialog>
    </>
  );
}
