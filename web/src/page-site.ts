/** The site settings by section, each with its explanation, edited in place (PATCH /site), errors shown as the API says. */
import { getJson, message, send, type SiteField } from './api.js';
import { fill, h, notify, option } from './dom.js';
import type { Page } from './page.js';

const SECTION_TITLES: Record<string, string> = {
  site: 'Site',
  network: 'Network and VLAN',
  qos: 'QoS',
  time: 'NTP and time zone',
  upstream: 'Upstream (the Centrex)',
  gateway: 'PSTN gateway',
  dialplan: 'Dial plan',
  fax: 'Fax',
  dhcp: 'DHCP',
  survival: 'Survival',
  provisioning: 'Provisioning',
  firmware: 'Firmware',
  sip: 'SIP registrar',
  admin: 'Administration',
};

export function sectionTitle(section: string): string {
  return SECTION_TITLES[section] ?? section.charAt(0).toUpperCase() + section.slice(1);
}

export function showValue(value: unknown): string {
  if (value === undefined || value === null || value === '') return '';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function editText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const slug = (key: string) => key.replace(/[^a-zA-Z0-9]+/g, '-');

interface FieldView {
  field: SiteField;
  el: HTMLElement;
  editing: boolean;
  update(field: SiteField): void;
}

export function sitePage(): Page {
  const views = new Map<string, FieldView>();
  const sectionsBox = h('div', { class: 'sections' });
  const toc = h('nav', { class: 'toc', 'aria-label': 'Sections' });

  function fieldView(initial: SiteField): FieldView {
    const id = `site-${slug(initial.key)}`;
    const el = h('div', { class: 'setting', id, 'data-key': initial.key });
    const view: FieldView = {
      field: initial,
      el,
      editing: false,
      update(f) {
        view.field = f;
        if (!view.editing) show();
      },
    };

    const show = () => {
      const f = view.field;
      const shown = showValue(f.value);
      const edit = h('button', { type: 'button', class: 'edit', 'aria-label': `Edit ${f.key}` }, 'Edit');
      edit.addEventListener('click', startEdit);
      fill(
        el,
        h('div', { class: 'setting-head' }, h('span', { class: 'setting-key mono', id: `${id}-label` }, f.key), f.source === 'file' ? h('span', { class: 'badge badge-info', title: 'Set in the site file: change it there' }, 'site file') : null),
        h('p', { class: 'setting-explanation', id: `${id}-help` }, f.explanation),
        h('div', { class: 'setting-value' }, h('span', { class: shown ? 'value' : 'value muted', 'aria-labelledby': `${id}-label` }, shown || 'not set'), edit),
      );
    };

    const startEdit = () => {
      view.editing = true;
      const f = view.field;
      let control: HTMLInputElement | HTMLSelectElement;
      if (f.type === 'boolean') {
        control = h('select', { id: `${id}-input` }, option('true', 'yes', f.value === true), option('false', 'no', f.value !== true));
      } else {
        control = h('input', {
          type: f.type === 'password' ? 'password' : 'text',
          id: `${id}-input`,
          value: f.type === 'password' ? '' : editText(f.value),
          inputmode: f.type === 'number' || f.type === 'integer' ? 'numeric' : undefined,
          autocomplete: 'off',
          spellcheck: 'false',
        });
      }
      const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
      control.setAttribute('aria-describedby', `${id}-help ${id}-error`);
      const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
      const cancel = h('button', { type: 'button' }, 'Cancel');
      const isList = Array.isArray(f.value) || f.type === 'list' || f.type === 'array';
      const form = h(
        'form',
        { class: 'setting-edit', novalidate: true },
        h('label', { for: control.id }, f.key),
        h('p', { class: 'setting-explanation', id: `${id}-help` }, f.explanation, isList ? ' Several values: separate them with commas.' : ''),
        control,
        error,
        h('div', { class: 'actions' }, save, cancel),
      );
      const stop = () => {
        view.editing = false;
        show();
        el.querySelector<HTMLButtonElement>('button.edit')?.focus();
      };
      cancel.addEventListener('click', stop);
      form.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') stop();
      });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        error.hidden = true;
        control.removeAttribute('aria-invalid');
        save.disabled = true;
        try {
          const site = await send<Record<string, unknown>>('PATCH', '/site', { [f.key]: control.value });
          const value = site ? pick(site, f.key) : undefined;
          view.field = { ...view.field, value: value === undefined ? view.field.value : value };
          notify(`${f.key} saved. The phones get it at their next check.`);
          stop();
        } catch (err) {
          error.textContent = message(err);
          error.hidden = false;
          control.setAttribute('aria-invalid', 'true');
          control.focus();
        } finally {
          save.disabled = false;
        }
      });
      fill(el, form);
      control.focus();
    };

    show();
    return view;
  }

  async function load(): Promise<void> {
    const fields = await getJson<SiteField[]>('/site/fields');
    const bySection = new Map<string, SiteField[]>();
    for (const f of fields) bySection.set(f.section, [...(bySection.get(f.section) ?? []), f]);
    let changedLayout = fields.length !== views.size || fields.some((f) => !views.has(f.key));
    if (!changedLayout) {
      for (const f of fields) views.get(f.key)?.update(f);
      return;
    }
    views.clear();
    const sections = [...bySection.entries()];
    fill(
      toc,
      h('ul', null, sections.map(([s]) => h('li', null, h('button', { type: 'button', class: 'link', onclick: () => { const target = document.getElementById(`sec-${slug(s)}`); target?.scrollIntoView({ block: 'start' }); target?.focus(); } }, sectionTitle(s))))),
    );
    fill(
      sectionsBox,
      sections.map(([section, list]) =>
        h(
          'section',
          { class: 'card site-section', 'aria-labelledby': `sec-${slug(section)}` },
          h('h2', { id: `sec-${slug(section)}`, tabindex: -1 }, sectionTitle(section)),
          list.map((f) => {
            const v = fieldView(f);
            views.set(f.key, v);
            return v.el;
          }),
        ),
      ),
    );
    changedLayout = false;
  }

  return {
    title: 'Site',
    topics: ['site'],
    async mount(main) {
      fill(main, h('h1', { tabindex: -1 }, 'Site'), h('p', null, 'Every setting the phones and Outpost use. A change reaches the phones at their next check (or Resync on a device’s page). Values set in the site file can only be changed there.'), toc, sectionsBox);
      await load();
    },
    refresh: load,
  };
}

function pick(obj: Record<string, unknown>, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
