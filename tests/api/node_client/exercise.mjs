// A Node FHIR client (fhir-kit-client, from the npm registry) against a running gateway:
// node exercise.mjs BASE_URL TOKEN. Prints one JSON line per step; exits 1 at the first
// step whose answer is not what FHIR R4 says.
import { Client } from 'fhir-kit-client';

const [baseUrl, token] = process.argv.slice(2);
const client = new Client({ baseUrl, bearerToken: token });
const AGENCY = 'https://fhir-care-gateway.example/agency-id/consumer';
const fhirPatch = { headers: { 'Content-Type': 'application/fhir+json' } };

function check(step, ok, detail) {
  console.log(JSON.stringify({ step, ok, detail }));
  if (!ok) process.exit(1);
}

const patient = {
  resourceType: 'Patient',
  identifier: [{ system: AGENCY, value: 'C-NODE-1' }],
  name: [{ family: 'Nakamura', given: ['Aiko'] }],
  gender: 'female',
  birthDate: '1991-07-09',
};
const ifNoneExist = { headers: { 'If-None-Exist': `identifier=${AGENCY}|C-NODE-1` } };

const created = await client.create({ resourceType: 'Patient', body: patient, options: ifNoneExist });
check('create', created.id && created.meta.versionId === '1', created.id);
const again = await client.create({ resourceType: 'Patient', body: patient, options: ifNoneExist });
check('conditional create', again.id === created.id, again.id);

const read = await client.read({ resourceType: 'Patient', id: created.id });
check('read', read.name[0].family === 'Nakamura', read.meta.versionId);

for (let i = 0; i < 3; i += 1) {
  await client.create({ resourceType: 'CareTeam', body: {
    resourceType: 'CareTeam', status: 'active', name: `team ${i}`,
    subject: { reference: `Patient/${created.id}` } } });
}
const page = await client.search({ resourceType: 'CareTeam',
  searchParams: { patient: created.id, _count: 2 } });
check('search', page.total === 3 && page.entry.length === 2, page.total);
const next = await client.nextPage({ bundle: page });
check('paging', next && next.entry.length === 1, next && next.entry.length);

const updated = await client.update({ resourceType: 'Patient', id: created.id,
  body: { ...read, gender: 'other' } });
check('update', updated.meta.versionId === '2' && updated.gender === 'other', updated.meta.versionId);
const conditional = await client.update({ resourceType: 'Patient',
  searchParams: { identifier: `${AGENCY}|C-NODE-1` }, body: { ...patient, birthDate: '1991-07-10' } });
check('conditional update', conditional.id === created.id && conditional.meta.versionId === '3',
  conditional.meta.versionId);

const patched = await client.patch({ resourceType: 'Patient', id: created.id,
  jsonPatch: [{ op: 'replace', path: '/birthDate', value: '1991-07-11' }] });
check('JSON Patch', patched.birthDate === '1991-07-11', patched.meta.versionId);
const fhirPathPatched = await client.request(`Patient/${created.id}`, { method: 'PATCH', body: {
  resourceType: 'Parameters', parameter: [{ name: 'operation', part: [
    { name: 'type', valueCode: 'replace' },
    { name: 'path', valueString: 'Patient.name[0].family' },
    { name: 'value', valueString: 'Nakamura-Ito' }] }] }, options: fhirPatch });
check('FHIRPath Patch', fhirPathPatched.name[0].family === 'Nakamura-Ito',
  fhirPathPatched.meta.versionId);

const versions = await client.history({ resourceType: 'Patient', id: created.id });
check('history', versions.total === 5, versions.total);
const vread = await client.vread({ resourceType: 'Patient', id: created.id, version: '1' });
check('vread', vread.gender === 'female', vread.meta.versionId);

const bundle = await client.transaction({ body: { resourceType: 'Bundle', type: 'transaction',
  entry: [{ fullUrl: 'urn:uuid:9f0e1d2c-3b4a-4596-8877-665544332211',
            resource: { resourceType: 'Goal', lifecycleStatus: 'active',
                        description: { text: 'Walk every day' },
                        subject: { reference: `Patient/${created.id}` } },
            request: { method: 'POST', url: 'Goal' } }] } });
check('transaction', bundle.type === 'transaction-response'
  && bundle.entry[0].response.status.startsWith('201'), bundle.entry[0].response.status);

await client.delete({ resourceType: 'Patient', id: created.id });
try {
  await client.read({ resourceType: 'Patient', id: created.id });
  check('delete', false, 'still readable');
} catch (error) {
  check('delete', error.response && error.response.status === 410, error.response && error.response.status);
}
