/** Which webhook targets are refused (SSRF policy), literal and resolved. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nonPublicReason, refusedLiteral, resolveTarget, WebhookTargetRefusedError } from '../../src/webhooks/addressPolicy.js';

describe('webhook address policy', () => {
  test('classifies loopback, private, link-local, unique-local, CGNAT, multicast, documentation, Teredo and the other special-purpose ranges', () => {
    const cases: Array<[string, string | null]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.1', null],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['100.127.255.255', 'carrier-grade NAT'],
      ['100.128.0.1', null],
      ['0.0.0.0', 'unspecified ("this network")'],
      ['224.0.0.251', 'multicast'],
      ['255.255.255.255', 'limited broadcast'],
      ['240.0.0.1', 'reserved'],
      ['192.0.2.10', 'documentation (TEST-NET-1)'],
      ['198.51.100.7', 'documentation (TEST-NET-2)'],
      ['203.0.113.255', 'documentation (TEST-NET-3)'],
      ['203.0.114.1', null],
      ['192.88.99.1', 'deprecated 6to4 relay anycast'],
      ['192.0.3.1', null],
      ['8.8.8.8', null],
      ['93.184.216.34', null],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['fc00::1', 'unique-local'],
      ['192.0.0.8', 'IETF protocol assignments'],
      ['198.18.0.1', 'benchmarking'],
      ['198.19.255.255', 'benchmarking'],
      ['198.20.0.1', null],
      ['64:ff9b:1::a00:1', 'local-use NAT64'],
      ['fd12:3456::1', 'unique-local'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'IPv4-embedded loopback'],
      ['::ffff:7f00:1', 'IPv4-embedded loopback'],
      ['::ffff:10.0.0.1', 'IPv4-embedded private'],
      ['::ffff:a9fe:a9fe', 'IPv4-embedded link-local'],
      ['::ffff:8.8.8.8', 'IPv4-mapped'],
      ['::ffff:0:8.8.8.8', 'IPv4-translated'],
      ['::8.8.8.8', 'IPv4-compatible (deprecated)'],
      ['64:ff9b::8.8.8.8', null],
      ['2002:808:808::1', null],
      ['2002:c000:0201::1', '6to4 documentation (TEST-NET-1)'],
      ['2001::1', 'Teredo'],
      ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
      ['2001:2::1', 'benchmarking'],
      ['2001:10::1', 'IETF protocol assignments'],
      ['2001:1ff::1', 'IETF protocol assignments'],
      ['2001:200::1', null],
      ['3fff:abc::1', 'documentation'],
      ['3fff:1000::1', null],
      ['100::1', 'not global unicast (reserved by IANA)'],
      ['5f00::1', 'not global unicast (reserved by IANA)'],
      ['4000::1', 'not global unicast (reserved by IANA)'],
      ['fec0::1', 'site-local'],
      ['64:ff9b::10.0.0.1', 'IPv4-embedded private'],
      ['2002:7f00:1::', '6to4 loopback'],
      ['2606:4700:4700::1111', null],
      ['2001:db8::1', 'documentation'],
      ['2001:db9::1', null],
    ];
    for (const [ip, reason] of cases) assert.equal(nonPublicReason(ip), reason, ip);
  });

  test('literal private IPs in URLs are refused at submit unless allowed; host names are not judged there', () => {
    for (const u of ['http://127.0.0.1:9/h', 'http://[::1]/h', 'http://[::ffff:127.0.0.1]/h', 'http://0x7f.1/h', 'http://2130706433/h', 'https://10.0.0.5/h']) {
      assert.match(refusedLiteral(new URL(u), false) ?? '', /which is not a public address \(.+\)\. The server only calls public addresses/, u);
      assert.equal(refusedLiteral(new URL(u), true), null, u);
    }
    assert.equal(refusedLiteral(new URL('http://localhost/h'), false), null);
    assert.equal(refusedLiteral(new URL('https://8.8.8.8/h'), false), null);
  });

  test('at delivery every resolved address must be public; the vetted addresses are returned', async () => {
    const lookup = (answers: string[]) => async () => answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    assert.deepEqual(
      await resolveTarget(new URL('https://hooks.example/x'), false, lookup(['93.184.216.34', '2606:2800:220:1::1'])),
      [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }],
    );
    await assert.rejects(
      resolveTarget(new URL('https://rebind.example/x'), false, lookup(['93.184.216.34', '10.0.0.7'])),
      (err: Error) => err instanceof WebhookTargetRefusedError && /rebind\.example resolves to 10\.0\.0\.7, which is not a public address \(private\)/.test(err.message),
    );
    assert.deepEqual(
      await resolveTarget(new URL('http://intranet.example/x'), true, lookup(['10.0.0.7'])),
      [{ address: '10.0.0.7', family: 4 }],
    );
  });
});
