"""Reproduce every vector of test/vectors/signed-requests.json with this client, byte for byte.

Usage: python3 clients/python/check_vectors.py test/vectors/signed-requests.json
Prints one line per vector checked and exits 1 at the first that differs.
"""
import json
import sys

from triledger_client import (Ed25519Key, HmacKey, envelope_header, request_record,
                              sign_request, signing_bytes, chain_message, verify_receipt)


def key_of(spec):
    material = bytes.fromhex(spec['materialHex'])
    return HmacKey(material) if spec['algorithm'] == 'hmac-sha256' else Ed25519Key(material)


def expect(what, got, wanted):
    if got != wanted:
        print(f'DIFFERS {what}:\n  got    {got}\n  wanted {wanted}')
        sys.exit(1)
    print(f'ok {what}')


def check_scheme(name, scheme, vectors):
    keys = {spec['keyNumber']: key_of(spec) for spec in scheme['keys'].values()}
    zero = bytes.fromhex(vectors['signatureZeroHex'])
    for vector in scheme['requests']:
        label = f'{name} {vector["kind"]}'
        body, record, signature = sign_request(vector['kind'], vector['body'], keys[vector['keyNumber']], zero)
        expect(f'{label}: signing bytes', signing_bytes(record).hex(), vector['signingBytesHex'])
        expect(f'{label}: chain message', chain_message(signing_bytes(record), zero).hex(),
               vector['chainMessageHex'])
        expect(f'{label}: signature', signature.hex(), vector['signatureHex'])
        expect(f'{label}: HTTP body', body, vector['httpBody'])
    remittance = scheme['requests'][0]
    request = request_record('remittance', remittance['body'])
    deployment = {'deviceKeys': vectors['deviceKeys'], 'devicePublicKeys': {
        device: scheme['keys'][device].get('publicKeyHex') for device in vectors['deviceKeys']}}
    shared = {device: bytes.fromhex(scheme['keys'][device]['materialHex'])
              for device in vectors['deviceKeys'] if scheme['keys'][device]['algorithm'] == 'hmac-sha256'}
    receipt = verify_receipt(scheme['receipt']['records'], request,
                             bytes.fromhex(remittance['signatureHex']), deployment, shared)
    expect(f'{name} receipt: links checked', len(receipt['checked']), 6)
    tampered = json.loads(json.dumps(scheme['receipt']['records']))
    tampered[3]['amount'] = '5000'
    try:
        verify_receipt(tampered, request, bytes.fromhex(remittance['signatureHex']), deployment, shared)
        expect(f'{name} receipt with a4 changed: refused', 'accepted', 'refused')
    except Exception as error:  # ReceiptInvalid
        expect(f'{name} receipt with a4 changed: refused', type(error).__name__, 'ReceiptInvalid')
    envelope = scheme['envelope']
    header, message = envelope_header(keys[envelope['keyNumber']], envelope['keyNumber'],
                                      envelope['receiver'], envelope['method'], envelope['url'],
                                      bytes.fromhex(envelope['bodyHex']), int(envelope['sentAtMs']),
                                      bytes.fromhex(envelope['nonceHex']))
    expect(f'{name} envelope: message', message.hex(), envelope['messageHex'])
    expect(f'{name} envelope: header', header, envelope['header'])


def main():
    with open(sys.argv[1], encoding='utf-8') as file:
        vectors = json.load(file)
    for name, scheme in vectors['schemes'].items():
        check_scheme(name, scheme, vectors)


if __name__ == '__main__':
    main()
