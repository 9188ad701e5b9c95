// GitLab's REST API for merge-request notes and labels, as a loopback HTTP server speaking the
// real wire format (`X-Next-Page`/`Link` pagination, 201 on create, `{"message": …}` errors),
// recording every request. Shapes: https://docs.gitlab.com/api/notes/#merge-requests
import { type RecordingServer, startRecordingServer } from './fake-github.js';

export interface FakeNote {
  id: number;
  body: string;
  system: boolean;
  noteable_type: 'MergeRequest';
}

export interface FakeGitlab extends RecordingServer {
  /** Value for CI_API_V4_URL. */
  apiUrl: string;
  notes(project: string, iid: number): FakeNote[];
  seed(project: string, iid: number, bodies: string[], options?: { system?: boolean }): void;
  labels(project: string, iid: number): string[];
}

export async function startFakeGitlab(
  options: { token?: string; jobToken?: string } = {},
): Promise<FakeGitlab> {
  const token = options.token ?? 'glpat-faketoken0123456789';
  const jobToken = options.jobToken ?? 'glcbt-fakejobtoken0123';
  const threads = new Map<string, FakeNote[]>();
  const labelSets = new Map<string, Set<string>>();
  let nextId = 500;

  const notesOf = (project: string, iid: number) => {
    const key = `${project}!${iid}`;
    if (!threads.has(key)) threads.set(key, []);
    return threads.get(key)!;
  };
  const labelsOf = (project: string, iid: number) => {
    const key = `${project}!${iid}`;
    if (!labelSets.has(key)) labelSets.set(key, new Set());
    return labelSets.get(key)!;
  };

  const server = await startRecordingServer((req, origin) => {
    const job = req.headers['job-token'] === jobToken;
    if (req.headers['private-token'] !== token && !job)
      return { status: 401, body: { message: '401 Unauthorized' } };
    const match = /^\/api\/v4\/projects\/([^/]+)\/merge_requests\/(\d+)(\/notes(?:\/(\d+))?)?$/.exec(
      req.path,
    );
    if (!match) return { status: 404, body: { message: '404 Not Found' } };
    const project = decodeURIComponent(match[1]!);
    const iid = Number(match[2]);
    // Job tokens may read but, as on most GitLab versions, not write notes.
    if (job && req.method !== 'GET') return { status: 403, body: { message: '403 Forbidden' } };

    if (!match[3] && req.method === 'PUT') {
      const set = labelsOf(project, iid);
      const body = req.body as { add_labels?: string; remove_labels?: string };
      for (const l of (body.add_labels ?? '').split(',').filter(Boolean)) set.add(l);
      for (const l of (body.remove_labels ?? '').split(',').filter(Boolean)) set.delete(l);
      return { status: 200, body: { iid, labels: [...set] } };
    }
    const notes = notesOf(project, iid);
    if (match[3] && !match[4] && req.method === 'GET') {
      const perPage = Math.min(Number(req.query.per_page ?? 20), 100);
      const page = Number(req.query.page ?? 1);
      const pages = Math.max(1, Math.ceil(notes.length / perPage));
      const sorted = req.query.sort === 'asc' ? notes : [...notes].reverse();
      const pageUrl = (p: number) => {
        const q = new URLSearchParams({ ...req.query, page: String(p) });
        return `${origin}${req.path}?${q}`;
      };
      const links = [`<${pageUrl(1)}>; rel="first"`, `<${pageUrl(pages)}>; rel="last"`];
      if (page < pages) links.unshift(`<${pageUrl(page + 1)}>; rel="next"`);
      return {
        status: 200,
        body: sorted.slice((page - 1) * perPage, page * perPage),
        headers: {
          'x-page': String(page),
          'x-per-page': String(perPage),
          'x-next-page': page < pages ? String(page + 1) : '',
          'x-prev-page': page > 1 ? String(page - 1) : '',
          'x-total': String(notes.length),
          'x-total-pages': String(pages),
          link: links.join(', '),
        },
      };
    }
    const text = (req.body as { body?: unknown } | undefined)?.body;
    if (match[3] && !match[4] && req.method === 'POST') {
      if (typeof text !== 'string' || !text) return { status: 400, body: { error: 'body is missing' } };
      const note: FakeNote = { id: nextId++, body: text, system: false, noteable_type: 'MergeRequest' };
      notes.push(note);
      return { status: 201, body: note };
    }
    if (match[4] && req.method === 'PUT') {
      const note = notes.find((n) => n.id === Number(match[4]));
      if (!note) return { status: 404, body: { message: '404 Not found' } };
      if (typeof text !== 'string' || !text) return { status: 400, body: { error: 'body is missing' } };
      note.body = text;
      return { status: 200, body: note };
    }
    return { status: 404, body: { message: '404 Not Found' } };
  });

  return {
    ...server,
    apiUrl: `${server.origin}/api/v4`,
    notes: notesOf,
    seed(project, iid, bodies, opts = {}) {
      for (const body of bodies) {
        notesOf(project, iid).push({
          id: nextId++,
          body,
          system: opts.system ?? false,
          noteable_type: 'MergeRequest',
        });
      }
    },
    labels: (project, iid) => [...labelsOf(project, iid)],
  };
}
