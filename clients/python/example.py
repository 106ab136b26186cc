"""triledger from Python, as a command: open an account, remit, read a balance; every answer's
receipt checked before it is printed (one JSON object on stdout; a refusal on stderr, exit 1).

  python3 example.py open    --url URL --key-file FILE [--currency JPY]
  python3 example.py remit   --url URL --key-file FILE --from N --to M --amount MINOR_UNITS
  python3 example.py balance --url URL --key-file FILE --account N

The key file holds the account's Ed25519 seed (hex), written by `open` (mode 0600).
"""
import argparse
import json
import os
import sys

from triledger_client import Client, Ed25519Key, ReceiptInvalid, Refused


def key_number_of(client, account):
    return client.deployment()['accountKeyNumberBase'] + account


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('command', choices=['open', 'remit', 'balance'])
    parser.add_argument('--url', required=True)
    parser.add_argument('--key-file', required=True)
    parser.add_argument('--currency', default='JPY')
    parser.add_argument('--from', dest='source', type=int)
    parser.add_argument('--to', type=int)
    parser.add_argument('--amount', type=int)
    parser.add_argument('--account', type=int)
    args = parser.parse_args()
    client = Client(args.url)
    try:
        if args.command == 'open':
            key = Ed25519Key.generate()
            opened = client.open_account(args.currency, key)
            descriptor = os.open(args.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, 'w') as file:
                file.write(key.seed.hex())
            result = {'accountNumber': opened.account_number, 'keyNumber': opened.key_number,
                      'receipt': opened.receipt}
        else:
            with open(args.key_file, encoding='utf-8') as file:
                key = Ed25519Key(bytes.fromhex(file.read().strip()))
            if args.command == 'remit':
                answer, receipt = client.remit(args.source, args.to, args.amount, args.currency, key,
                                               key_number_of(client, args.source))
                result = {'remittanceId': answer['remittanceId'], 'receipt': receipt}
            else:
                result = client.account(args.account, key, key_number_of(client, args.account))
    except Refused as refusal:
        print(f'triledger: {refusal.code}: {refusal.message}', file=sys.stderr)
        sys.exit(1)
    except ReceiptInvalid as invalid:
        print(f'triledger: the answer does not check out: {invalid}', file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
