/** The login form: the admin password, the server's answer shown when it is wrong. */
import { ApiError, login, message } from './api.js';
import { fill, h } from './dom.js';
import type { Page } from './page.js';

export function loginPage(done: () => void): Page {
  return {
    title: 'Log in',
    topics: [],
    async mount(main) {
      const password = h('input', { type: 'password', id: 'login-password', name: 'password', autocomplete: 'current-password', required: true });
      const error = h('p', { class: 'error', id: 'login-error', role: 'alert', hidden: true });
      password.setAttribute('aria-describedby', 'login-error login-hint');
      const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
      const form = h(
        'form',
        { id: 'login-form', class: 'card login', novalidate: true },
        h('h1', { tabindex: -1 }, 'Log in to Outpost'),
        h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Admin password'), password, h('p', { class: 'hint', id: 'login-hint' }, 'The password of the user admin: admin.password in the site file, or the file data/admin-password on the box.')),
        error,
        h('div', { class: 'actions' }, submit),
      );
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        error.hidden = true;
        if (!password.value) {
          error.textContent = 'Type the admin password.';
          error.hidden = false;
          password.focus();
          return;
        }
        submit.disabled = true;
        try {
          await login(password.value);
          done();
        } catch (err) {
          error.textContent = err instanceof ApiError && err.status === 401 ? 'Wrong password. Try again.' : `Logging in failed: ${message(err)}`;
          error.hidden = false;
          password.select();
          password.focus();
        } finally {
          submit.disabled = false;
        }
      });
      fill(main, form);
      password.focus();
    },
  };
}
