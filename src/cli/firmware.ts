/** `outpost firmware add|list|remove`. */
import type { Command } from 'commander';
import { UserError } from '../app/errors.js';
import { APPLICATION, FirmwareError, roleOf } from '../provisioning/firmware.js';
import { print, withOutpost, type GlobalOptions } from './context.js';
import { json, table } from './output.js';

export function registerFirmwareCommands(program: Command): void {
  const firmware = program.command('firmware').description('the firmware catalogue: which image each model runs');

  firmware
    .command('add')
    .description('copy an image into the catalogue as the target of MODEL (replaces the previous target)')
    .argument('<file>', 'the image, e.g. T22P-7.73.0.50.rom')
    .requiredOption('--model <model>', 'model as on the label, e.g. SIP-T22P')
    .requiredOption('--version <version>', 'the version the image reports, e.g. 7.73.0.50')
    .option('--role <role>', 'what the image is to the model: application, or for Thomson dsp, boot, telephony', APPLICATION)
    .action(async (file: string, opts: { model: string; version: string; role: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const found = outpost.models.find(opts.model);
        if (!found) throw new UserError(`unknown model "${opts.model}"; outpost device models lists them`);
        const roles = found.model.firmwareRoles ?? [APPLICATION];
        if (!roles.includes(opts.role)) throw new UserError(`the ${found.model.id} takes no "${opts.role}" image; its roles: ${roles.join(', ')}`);
        try {
          const { image, replaced } = await outpost.firmware.add(file, found.model.id, opts.version, opts.role, { keepName: found.model.firmwareKeepsName === true });
          await outpost.store.events.add({
            type: 'firmware.added',
            message: `firmware ${image.version} for ${image.model}${image.role ? ` (${image.role})` : ''} added${replaced ? ` (replaces ${replaced.version})` : ''}`,
            data: { model: image.model, role: roleOf(image), version: image.version, sha256: image.sha256, size: image.size },
          });
          print(`${image.model}${image.role ? ` ${image.role}` : ''} ${image.version} added as ${image.file} (${image.size} bytes, sha256 ${image.sha256})${replaced ? `; replaces ${replaced.version}` : ''}`);
        } catch (err) {
          if (err instanceof FirmwareError) throw new UserError(err.message);
          throw err;
        }
      });
    });

  firmware
    .command('list')
    .description('the images in the catalogue')
    .option('--json', 'as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const images = outpost.firmware.list();
        if (opts.json) return print(json(images));
        if (!images.length) return print('no firmware yet: outpost firmware add FILE --model MODEL --version V');
        print(table(images.map((i) => [i.model, roleOf(i), i.version, i.file, String(i.size), i.sha256]), ['MODEL', 'ROLE', 'VERSION', 'FILE', 'SIZE', 'SHA256']));
      });
    });

  firmware
    .command('remove')
    .description('stop offering firmware to MODEL and delete its images (only the --role one when given)')
    .argument('<model>', 'model as on the label')
    .option('--role <role>', 'remove only this image, e.g. dsp')
    .action(async (model: string, opts: { role?: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const found = outpost.models.find(model);
        if (!found) throw new UserError(`unknown model "${model}"; outpost device models lists them`);
        const removed = outpost.firmware.remove(found.model.id, opts.role);
        if (!removed.length) throw new UserError(`the catalogue has no ${opts.role ? `${opts.role} image` : 'firmware'} for ${found.model.id} (outpost firmware list)`);
        for (const image of removed) {
          await outpost.store.events.add({ type: 'firmware.removed', message: `firmware ${image.version} for ${image.model} (${roleOf(image)}) removed` });
          print(`${image.model} ${roleOf(image)} ${image.version} removed`);
        }
      });
    });
}
