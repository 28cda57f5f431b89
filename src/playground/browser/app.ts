/**
 * The playground's entry point: wires the forms, the live queue, the gallery and the key
 * controls to one Api (the typed client plus the API-key flow). Plain DOM, no framework:
 * the markup is in src/playground/assets/index.html, the behaviour in the modules here.
 */
import type { Task, TaskImage } from '../../client/types.js';
import { Api } from './api.js';
import { byId, randomHex } from './dom.js';
import { EditForm, imageIn } from './editForm.js';
import { EngineBanner } from './engineBanner.js';
import { shortPrompt } from './format.js';
import { Gallery } from './gallery.js';
import { GenerateForm } from './generateForm.js';
import { announce, clearErrors, isAbort, showError } from './notices.js';
import { QueueView } from './queueView.js';
import { initTabs } from './tabs.js';

const MIME: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

const api = new Api();
const engine = new EngineBanner(() => api.current);
const selectTab = initTabs(byId('create').querySelector<HTMLElement>('[role="tablist"]')!);

// Each submit carries an Idempotency-Key, so the retry after an API-key prompt cannot queue it twice.
const generate = new GenerateForm(byId('panel-generate'), async (params) => {
  const idempotencyKey = randomHex();
  const submitted = await api.call((c) => c.generate(params, { idempotencyKey }));
  queue.track(submitted.task_id, params.prompt);
  announce(`Queued: ${shortPrompt(params.prompt)}`);
  void engine.refresh();
});

const edit = new EditForm(byId('panel-edit'), async (input) => {
  const idempotencyKey = randomHex();
  const submitted = await api.call((c) => c.edit(input, { idempotencyKey }));
  queue.track(submitted.task_id, input.prompt);
  announce(`Queued edit: ${shortPrompt(input.prompt)}`);
  void engine.refresh();
});

const gallery = new Gallery(api, {
  useSettings(task: Task) {
    if (!task.request) return showError(new Error('This task no longer has its settings (retention removed them).'));
    if (task.kind === 'edit') {
      edit.fill(task.request);
      selectTab('edit');
      edit.focus();
    } else {
      generate.fill(task.request);
      selectTab('generate');
      generate.focus();
    }
    announce(`Settings of “${shortPrompt(task.request.prompt, 60)}” filled in.`);
  },
  async editImage(task: Task, image: TaskImage) {
    try {
      const bytes = await api.call((c) => c.imageBytes(image));
      const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: MIME[image.output_format] ?? 'image/png' });
      edit.setImage(blob, `${task.task_id.slice(0, 8)}.${image.output_format}`);
      selectTab('edit');
      edit.focus();
      announce('Image ready to edit: write what the result should look like.');
    } catch (err) {
      showError(err, 'Could not load the image to edit');
    }
  },
});

const queue = new QueueView(api, {
  completed(task) {
    gallery.add(task);
    engine.fromTask(task);
    void engine.refresh();
  },
});

// Pasting an image anywhere (outside a text field's own paste) makes it the image to edit.
document.addEventListener('paste', (e) => {
  const file = imageIn(e.clipboardData);
  if (!file) return;
  e.preventDefault();
  edit.setImage(file, file.name || 'pasted.png');
  selectTab('edit');
  edit.focus();
  announce('Pasted image ready to edit.');
});

// Key controls: "Forget key" while one is stored; "Enter API key" after a refused prompt.
const enterKey = byId<HTMLButtonElement>('enter-key');
const forget = byId<HTMLButtonElement>('forget-key');
const syncKeyControls = () => {
  forget.hidden = !api.hasKey;
  enterKey.hidden = api.hasKey || !api.needsKey;
};
api.onChange(syncKeyControls);
syncKeyControls();
enterKey.addEventListener('click', async () => {
  if (!(await api.requestKey())) return;
  clearErrors();
  await loadAll();
});
forget.addEventListener('click', () => {
  api.forget();
  queue.clear();
  gallery.clear();
  announce('API key forgotten. It is no longer stored in this browser.');
  enterKey.focus();
});

/** The gallery and the tasks still running, from the server (so both survive reloads). */
async function loadAll(): Promise<void> {
  const results = await Promise.allSettled([gallery.reload(), queue.restore()]);
  for (const r of results) if (r.status === 'rejected') showError(r.reason, 'Could not load your tasks');
}

window.addEventListener('unhandledrejection', (e) => {
  if (!isAbort(e.reason)) showError(e.reason);
});

void engine.refresh();
void loadAll();
