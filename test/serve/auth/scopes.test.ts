/**
 * Scopes: `admin`, `ingest:<pattern>` and `read:<pattern>`, where a pattern is a name, `*` or a prefix
 * ending in `*`; anything else is refused with a message naming the scope.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/core/errors.js';
import { describePermission, grants, parseScopes, type Permission } from '../../../src/serve/auth/scopes.js';

const read = (resource: string): Permission => ({ action: 'read', resource });
const ingest = (resource: string): Permission => ({ action: 'ingest', resource });
const admin: Permission = { action: 'admin' };

describe('scopes', () => {
  it('an exact pattern grants that name only', () => {
    const scopes = parseScopes(['read:alerts']);
    assert.equal(grants(scopes, read('alerts')), true);
    assert.equal(grants(scopes, read('alerts2')), false);
    assert.equal(grants(scopes, read('alert')), false);
    assert.equal(grants(scopes, read('payments')), false);
  });

  it("'*' grants every name of its action", () => {
    const scopes = parseScopes(['read:*']);
    assert.equal(grants(scopes, read('alerts')), true);
    assert.equal(grants(scopes, read('sensors.temp')), true);
    assert.equal(grants(scopes, ingest('alerts')), false);
    assert.equal(grants(scopes, admin), false);
  });

  it('a prefix pattern grants the names that start with the prefix', () => {
    const scopes = parseScopes(['ingest:sensors.*']);
    assert.equal(grants(scopes, ingest('sensors.temp')), true);
    assert.equal(grants(scopes, ingest('sensors.humidity.raw')), true);
    assert.equal(grants(scopes, ingest('sensors')), false);
    assert.equal(grants(scopes, ingest('sensorsX')), false);
    assert.equal(grants(scopes, ingest('other.sensors.temp')), false);
    assert.equal(grants(scopes, read('sensors.temp')), false);
  });

  it('admin grants everything', () => {
    const scopes = parseScopes(['admin']);
    assert.equal(grants(scopes, admin), true);
    assert.equal(grants(scopes, read('anything')), true);
    assert.equal(grants(scopes, ingest('payments')), true);
    assert.equal(grants(scopes, { action: 'metrics' }), true);
  });

  it('metrics grants metrics only; read and ingest do not grant metrics', () => {
    const watcher = parseScopes(['metrics']);
    assert.equal(grants(watcher, { action: 'metrics' }), true);
    assert.equal(grants(watcher, read('alerts')), false);
    assert.equal(grants(watcher, admin), false);
    assert.equal(grants(parseScopes(['read:*', 'ingest:*']), { action: 'metrics' }), false);
    assert.equal(describePermission({ action: 'metrics' }), 'metrics');
  });

  it('read and ingest are separate, and neither grants admin', () => {
    const reader = parseScopes(['read:payments']);
    assert.equal(grants(reader, read('payments')), true);
    assert.equal(grants(reader, ingest('payments')), false);
    const writer = parseScopes(['ingest:payments']);
    assert.equal(grants(writer, ingest('payments')), true);
    assert.equal(grants(writer, read('payments')), false);
    assert.equal(grants(parseScopes(['read:*', 'ingest:*']), admin), false);
  });

  it('several scopes grant the union; no scopes grant nothing', () => {
    const scopes = parseScopes(['read:alerts', 'ingest:sensors.*', 'read:views.*']);
    assert.equal(grants(scopes, read('alerts')), true);
    assert.equal(grants(scopes, read('views.latest')), true);
    assert.equal(grants(scopes, ingest('sensors.a')), true);
    assert.equal(grants(scopes, ingest('alerts')), false);
    const none = parseScopes([]);
    assert.equal(grants(none, read('alerts')), false);
    assert.equal(grants(none, admin), false);
  });

  it('keeps the valid scopes as given, without duplicates', () => {
    assert.deepEqual(parseScopes(['read:a', 'admin', 'read:a']).list, ['read:a', 'admin']);
  });

  for (const bad of ['write:alerts', 'read:', 'ingest:', 'read:a*b', 'read:**', 'read:*.temp', 'read:a b', 'read:sensors/*', 'Admin', 'admin:x', 'read', '', ' read:a']) {
    it(`refuses ${JSON.stringify(bad)}, naming it`, () => {
      assert.throws(() => parseScopes(['read:ok', bad]), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError);
        assert.equal(e.code, 'invalid_scope');
        assert.ok(e.message.includes(`'${bad}'`), e.message);
        return true;
      });
    });
  }

  it('with ignoreInvalid, drops bad scopes and keeps the rest', () => {
    const scopes = parseScopes(['openid', 'read:alerts', 'profile', 'read:a*b'], { ignoreInvalid: true });
    assert.deepEqual(scopes.list, ['read:alerts']);
    assert.equal(grants(scopes, read('alerts')), true);
  });

  it('describes a permission as the scope that grants it', () => {
    assert.equal(describePermission(read('alerts')), 'read:alerts');
    assert.equal(describePermission(ingest('sensors.temp')), 'ingest:sensors.temp');
    assert.equal(describePermission(admin), 'admin');
    // The description is a scope that does grant the permission.
    for (const need of [read('alerts'), ingest('sensors.temp'), admin]) assert.equal(grants(parseScopes([describePermission(need)]), need), true);
  });
});
