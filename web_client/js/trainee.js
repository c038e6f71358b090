// The trainee's name: asked once, kept in localStorage, sent as `trainee` with every call.
import { t } from './i18n.js';

const KEY = 'callcoach.trainee';

export function getTrainee() {
  try { return (localStorage.getItem(KEY) || '').trim(); } catch { return ''; }
}

function setTrainee(name) {
  try { localStorage.setItem(KEY, name); } catch { /* private mode */ }
  renderTraineeButton();
}

export function renderTraineeButton() {
  const btn = document.getElementById('trainee-button');
  if (!btn) return;
  const name = getTrainee();
  btn.textContent = name ? t('trainee.button', { name }) : t('trainee.button_none');
  btn.setAttribute('aria-label', name ? t('trainee.change_aria', { name }) : t('trainee.button_none'));
}

/** Open the name dialog; resolves with the name once saved (or the old one if dismissed). */
export function askTrainee({ required = false } = {}) {
  const dialog = document.getElementById('trainee-dialog');
  const input = document.getElementById('trainee-input');
  const form = document.getElementById('trainee-form');
  const err = document.getElementById('trainee-error');
  input.value = getTrainee();
  err.hidden = true;
  return new Promise((resolve) => {
    const onSubmit = (ev) => {
      const name = input.value.trim();
      if (!name) {
        ev.preventDefault();
        err.textContent = t('trainee.required');
        err.hidden = false;
        input.focus();
        return;
      }
      setTrainee(name);
    };
    const onCancel = (ev) => { if (required && !getTrainee()) ev.preventDefault(); };
    const onClose = () => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('cancel', onCancel);
      resolve(getTrainee());
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('cancel', onCancel);
    dialog.addEventListener('close', onClose, { once: true });
    dialog.showModal();
    input.focus();
  });
}

/** The name, asking for it first if we do not have one yet. */
export async function ensureTrainee() {
  return getTrainee() || askTrainee({ required: true });
}
