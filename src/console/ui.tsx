// The few pieces the console and the wallet both draw.
import type { ComponentChildren } from 'preact';

/** A labelled text input (the label is for assistive technology and tests; the placeholder shows). */
export function Field(props: {
  label: string;
  placeholder: string;
  size: number;
  value: string;
  onChange: (value: string) => void;
  type?: 'text' | 'password';
}) {
  const common = {
    'aria-label': props.label,
    placeholder: props.placeholder,
    size: props.size,
    value: props.value,
    onInput: (e: { currentTarget: HTMLInputElement }) => props.onChange(e.currentTarget.value),
  };
  return props.type === 'password' ? <input type="password" {...common} /> : <input {...common} />;
}

/** What went wrong, announced to assistive technology; nothing when there is no error. */
export function ErrorLine(props: { error: string }) {
  return props.error ? (
    <p class="error" role="alert">
      {props.error}
    </p>
  ) : null;
}

/** A form that stays on the page: submitting runs `onSubmit` instead of navigating. */
export function Form(props: { onSubmit: () => void; children: ComponentChildren }) {
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      {props.children}
    </form>
  );
}

/** A table's header row. */
export function Head(props: { columns: readonly string[] }) {
  return (
    <thead>
      <tr>
        {props.columns.map((column, index) => (
          <th key={`${index}-${column}`}>{column}</th>
        ))}
      </tr>
    </thead>
  );
}

/** A row's signature status, as every table of rows shows it. */
export function SignatureCell(props: { valid: boolean }) {
  return <td class={props.valid ? 'ok' : 'bad'}>{props.valid ? 'verified' : 'DOES NOT VERIFY'}</td>;
}
