// Login: a user name (empty for the default user) and a password, which become the
// HTTP Bearer of this tab until logout.

import { el, fill } from '../lib.js';

export default function login(main, { loggedIn }) {
  const user = el('input', { id: 'login-user', name: 'username', autocomplete: 'username', placeholder: 'default' });
  const pass = el('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = el('p', { class: 'error', role: 'alert', id: 'login-error' });
  const button = el('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = el('form', { class: 'panel login', 'aria-labelledby': 'login-title' },
    el('h1', { id: 'login-title' }, 'Log in to FlashDB'),
    el('p', { class: 'muted' }, 'This server asks for a password (requirepass or an ACL user).'),
    el('label', { for: 'login-user' }, 'User'), user,
    el('label', { for: 'login-pass' }, 'Password'), pass,
    el('div', { class: 'row' }, button),
    status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    status.textContent = '';
    const name = user.value.trim();
    const token = name && name !== 'default' ? `${name}:${pass.value}` : pass.value;
    try {
      const ok = await loggedIn(token);
      if (!ok) status.textContent = 'Wrong user name or password (or the user is off).';
    } catch (e) {
      status.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  pass.focus();
}
