#!/usr/bin/env python3
"""An independent implementation of docs/encoding.md, used only to write the committed test vectors.

It shares no code with src/: the TypeScript tests compare their encoder and chain signatures with
what this file wrote. Run from the repository root: python3 test/vectors/reference_encoder.py
"""
import hashlib
import hmac
import json
import struct

A = [('transactionNumber', 'u64', 0), ('remittanceId', 'text', 0), ('transactionType', 'text', 0),
     ('sourceAccount', 'u64', 1), ('destinationAccount', 'u64', 1), ('amount', 'u64', 1),
     ('currencyType', 'text', 1), ('outcome', 'text', 1), ('detail', 'text', 1),
     ('dateTime', 'timestamp', 0), ('signerKeyNumber', 'u32', 0)]
B = [('accountNumber', 'u64', 0), ('currencyType', 'text', 0), ('balance', 'u64', 0), ('held', 'u64', 0),
     ('status', 'text', 0), ('lastUpdate', 'timestamp', 0)]
C = [('currencyNumber', 'u64', 0), ('currencyType', 'text', 0), ('value', 'u64', 0),
     ('ownerAccount', 'u64', 0), ('status', 'text', 0), ('lastUpdate', 'timestamp', 0)]
TYPES = {'TransactionRecord': (0x41, A), 'AccountRow': (0x42, B), 'CurrencyRow': (0x43, C)}


def encode(type_name, values):
    tag, fields = TYPES[type_name]
    out = b'TL' + bytes([1, tag])
    for name, kind, optional in fields:
        value = values.get(name)
        if optional:
            out += bytes([0 if value is None else 1])
            if value is None:
                continue
        if kind == 'u32':
            out += struct.pack('>I', value)
        elif kind == 'u64':
            out += struct.pack('>Q', int(value))
        elif kind in ('i64', 'timestamp'):
            out += struct.pack('>q', int(value))
        elif kind == 'text':
            data = value.encode('utf-8')
            out += struct.pack('>I', len(data)) + data
    return out


T = '1601631000000'  # 2020-10-02T09:30:00Z
REQUEST = {'sourceAccount': '1', 'destinationAccount': '2', 'amount': '500', 'currencyType': 'JPY'}


def record_vectors():
    vectors = [
        ('FIG. 1F record 11: remittance request, account 1 to 2, 500 JPY', 'TransactionRecord',
         {'transactionNumber': '11', 'remittanceId': 'r-0001', 'transactionType': 'remittance_request', **REQUEST,
          'dateTime': T, 'signerKeyNumber': 4}),
        ('FIG. 1F record 13: account confirmation response, optional fields absent', 'TransactionRecord',
         {'transactionNumber': '13', 'remittanceId': 'r-0001', 'transactionType': 'account_confirmation_response',
          'outcome': 'ok', 'dateTime': T, 'signerKeyNumber': 2}),
        ('a currency response with its unit plan in detail', 'TransactionRecord',
         {'transactionNumber': '15', 'remittanceId': 'r-0001', 'transactionType': 'currency_confirmation_response',
          'outcome': 'ok', 'detail': '{"sequence":"1","moved":["3"],"retired":[],"issued":[]}', 'dateTime': T, 'signerKeyNumber': 3}),
        ('largest values: u64 max amount, u32 max key number, negative timestamp', 'TransactionRecord',
         {'transactionNumber': '18446744073709551615', 'remittanceId': '', 'transactionType': 'remittance_request',
          'amount': '18446744073709551615', 'dateTime': '-1', 'signerKeyNumber': 4294967295}),
        ('FIG. 4 after FIG. 1G: account 1, balance 1000', 'AccountRow',
         {'accountNumber': '1', 'currencyType': 'JPY', 'balance': '1000', 'held': '0', 'status': 'open', 'lastUpdate': T}),
        ("non-ASCII text: a points programme's currency type", 'AccountRow',
         {'accountNumber': '7', 'currencyType': 'ポイント', 'balance': '0', 'held': '0', 'status': 'open', 'lastUpdate': '0'}),
        ('FIG. 5 after FIG. 1H: currency unit 3 of 500 JPY, now owned by account 2', 'CurrencyRow',
         {'currencyNumber': '3', 'currencyType': 'JPY', 'value': '500', 'ownerAccount': '2', 'status': 'active',
          'lastUpdate': T}),
    ]
    return {
        'note': 'Canonical record encoding (docs/encoding.md). u64, i64 and timestamp values are decimal strings '
                'here; u32 are numbers. Written by test/vectors/reference_encoder.py, not by src/.',
        'vectors': [{'description': d, 'recordType': t, 'values': v, 'hex': encode(t, v).hex()} for d, t, v in vectors],
    }


def chain_vector():
    keys = {1: '62a6724b3f439ef24571ff01114a2709', 2: 'd0742b450c46f4d2e6c34b12a1cd7a4c',
            3: 'b6fad2ee4dcafadd0aa26c6e46b269da', 4: '763b7518363ca1addee279e664727dd6'}
    rows = [(11, 'remittance_request', REQUEST, 4), (12, 'account_confirmation_request', REQUEST, 1),
            (13, 'account_confirmation_response', {'outcome': 'ok'}, 2),
            (14, 'currency_confirmation_request', REQUEST, 1),
            (15, 'currency_confirmation_response', {'outcome': 'ok'}, 3), (16, 'remittance_response', {'outcome': 'ok'}, 1)]
    signature_zero = hashlib.sha256(b'triledger signature 0: FIG. 3 test vector').digest()
    previous, links = signature_zero, []
    for number, transaction_type, extra, key in rows:
        values = {'transactionNumber': str(number), 'remittanceId': 'r-0001', 'transactionType': transaction_type,
                  **extra, 'dateTime': T, 'signerKeyNumber': key}
        record = encode('TransactionRecord', values)
        message = b'TLC1' + struct.pack('>H', len(previous)) + previous + record
        signature = hmac.new(bytes.fromhex(keys[key]), message, hashlib.sha256).digest()
        links.append({'values': values, 'recordHex': record.hex(), 'signerKeyNumber': key, 'signatureHex': signature.hex()})
        previous = signature
    return {
        'note': 'FIG. 3 chain: the six records of FIG. 2B signed with the FIG. 6 HMAC-SHA256 keys; signature n = '
                'HMAC(key, "TLC1" || u16 len(sig n-1) || sig n-1 || record n). Written by '
                'test/vectors/reference_encoder.py, not by src/.',
        'signatureZeroHex': signature_zero.hex(),
        'links': links,
    }


if __name__ == '__main__':
    for path, content in (('test/vectors/record-encoding.json', record_vectors()),
                          ('test/vectors/chain-fig3-hmac.json', chain_vector())):
        with open(path, 'w', encoding='utf-8') as file:
            json.dump(content, file, indent=2, ensure_ascii=False)
            file.write('\n')
