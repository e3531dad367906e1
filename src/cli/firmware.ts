/** `outpost firmware add|list|remove`. */
import type { Command } from 'commander';
import { UserError } from '../app/errors.js';
import { FirmwareError } from '../provisioning/firmware.js';
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
    .action(async (file: string, opts: { model: string; version: string }, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const found = outpost.models.find(opts.model);
        if (!found) throw new UserError(`unknown model "${opts.model}"; outpost device models lists them`);
        try {
          const { image, replaced } = await outpost.firmware.add(file, found.model.id, opts.version);
          await outpost.store.events.add({
            type: 'firmware.added',
            message: `firmware ${image.version} for ${image.model} added${replaced ? ` (replaces ${replaced.version})` : ''}`,
            data: { model: image.model, version: image.version, sha256: image.sha256, size: image.size },
          });
          print(`${image.model} ${image.version} added as ${image.file} (${image.size} bytes, sha256 ${image.sha256})${replaced ? `; replaces ${replaced.version}` : ''}`);
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
        print(table(images.map((i) => [i.model, i.version, i.file, String(i.size), i.sha256]), ['MODEL', 'VERSION', 'FILE', 'SIZE', 'SHA256']));
      });
    });

  firmware
    .command('remove')
    .description('stop offering firmware to MODEL and delete its image')
    .argument('<model>', 'model as on the label')
    .action(async (model: string, _opts: unknown, cmd: Command) => {
      await withOutpost(cmd.optsWithGlobals<GlobalOptions>(), async (outpost) => {
        const found = outpost.models.find(model);
        if (!found) throw new UserError(`unknown model "${model}"; outpost device models lists them`);
        const removed = outpost.firmware.remove(found.model.id);
        if (!removed) throw new UserError(`the catalogue has no firmware for ${found.model.id} (outpost firmware list)`);
        await outpost.store.events.add({ type: 'firmware.removed', message: `firmware ${removed.version} for ${removed.model} removed` });
        print(`${removed.model} ${removed.version} removed`);
      });
    });
}
