/**
 * The template engine for device files: nunjucks (Jinja2 syntax, the same family as wazo-provd's templates, so a
 * technician who knows one reads the other). Configured to escape nothing (these are INI/cfg/XML files, escaping
 * is the template's own business) and to fail loudly when a template names a variable the context lacks.
 * Templates are looked up in the technician's override folder first (`<data>/templates/<vendor>/`), then in the
 * shipped `device-templates/<vendor>/`.
 */
import nunjucks from 'nunjucks';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shipped templates: `<package>/device-templates`, found from this file in src/ (tsx) or dist/ (built). */
export const SHIPPED_TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'device-templates');

export class TemplateError extends Error {}

export class TemplateSet {
  private readonly env: nunjucks.Environment;

  constructor(readonly vendor: string, overrideRoot?: string) {
    const paths = [overrideRoot ? join(overrideRoot, vendor) : undefined, join(SHIPPED_TEMPLATES, vendor)].filter(
      (p): p is string => p !== undefined && existsSync(p),
    );
    this.env = new nunjucks.Environment(new nunjucks.FileSystemLoader(paths, { noCache: false }), {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
      lstripBlocks: true,
    });
  }

  render(name: string, context: object): string {
    try {
      return this.env.render(name, context);
    } catch (err) {
      const message = (err as Error).message.replace(/\s+/g, ' ').trim();
      throw new TemplateError(`template ${this.vendor}/${name}: ${message}`);
    }
  }
}
