"""A triledger client in Python: signs requests, sends them, and checks every receipt it gets.

A second implementation of docs/signing.md and docs/encoding.md, sharing no code with the
TypeScript project: standard library plus `cryptography` for Ed25519 (Debian: python3-cryptography).
It builds each request's step-1 record exactly as the transaction device rebuilds it, signs it
chained over signature 0, and accepts an answer only after checking its chain: the first record is
the request it signed, every record is numbered in the operation's block, signed by the key of its
step's party, and, where the deployment publishes Ed25519 device keys, every link verifies. On an
HMAC deployment the device links cannot be checked outside the devices (their keys are shared
secrets); the receipt says so instead of claiming them.

    client = Client("http://127.0.0.1:8080")
    key = Ed25519Key.generate()
    opened = client.open_account("JPY", key)
    answer = client.remit(opened.account_number, 2, 500, "JPY", key, opened.key_number)
"""
import hashlib
import hmac
import json
import os
import struct
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# The TransactionRecord type of docs/encoding.md: (name, kind, optional), in order.
RECORD_FIELDS = [
    ('transactionNumber', 'u64', False), ('remittanceId', 'text', False),
    ('transactionType', 'text', False), ('sourceAccount', 'u64', True),
    ('destinationAccount', 'u64', True), ('amount', 'u64', True), ('currencyType', 'text', True),
    ('outcome', 'text', True), ('detail', 'text', True), ('dateTime', 'timestamp', False),
    ('signerKeyNumber', 'u32', False),
]
TRANSACTION_RECORD_TAG = 0x41
# Each transaction type's step (1 request, 2-5 the exchanges, 6 the response) and who signs it.
STEPS = {
    'remittance_request': 1, 'account_issuing_request': 1, 'account_closing_request': 1,
    'issuance_request': 1, 'redemption_request': 1,
    'account_confirmation_request': 2, 'account_update_request': 2,
    'account_confirmation_response': 3, 'account_update_response': 3,
    'currency_confirmation_request': 4, 'currency_update_request': 4,
    'currency_confirmation_response': 5, 'currency_update_response': 5,
    'remittance_response': 6, 'account_issuing_response': 6, 'account_closing_response': 6,
    'issuance_response': 6, 'redemption_response': 6,
}
SIGNER_OF_STEP = {2: 'transaction', 3: 'account', 4: 'transaction', 5: 'currency', 6: 'transaction'}
ENVELOPE_HEADER = 'triledger-signature'
TIMEOUT_SECONDS = 30


class Refused(Exception):
    """The ledger refused a request: its error code and message (docs/errors.md)."""

    def __init__(self, status, code, message, records=None):
        super().__init__(f'{code}: {message}')
        self.status, self.code, self.message, self.records = status, code, message, records


class ReceiptInvalid(Exception):
    """An answer whose chain does not check out: it must not be believed."""


def encode_record(values):
    """The canonical bytes of a TransactionRecord (docs/encoding.md)."""
    out = b'TL' + bytes([1, TRANSACTION_RECORD_TAG])
    for name, kind, optional in RECORD_FIELDS:
        value = values.get(name)
        if optional:
            out += bytes([0 if value is None else 1])
            if value is None:
                continue
        if value is None:
            raise ValueError(f'{name} is required')
        if kind == 'u32':
            out += struct.pack('>I', value)
        elif kind == 'u64':
            out += struct.pack('>Q', value)
        elif kind == 'timestamp':
            out += struct.pack('>q', value)
        else:
            data = value.encode('utf-8')
            out += struct.pack('>I', len(data)) + data
    return out


def signing_bytes(values):
    """What a record's signature covers: its encoding, with number 0 for a request (step 1)."""
    if STEPS[values['transactionType']] == 1:
        values = dict(values, transactionNumber=0)
    return encode_record(values)


def chain_message(record_bytes, previous_signature):
    return b'TLC1' + struct.pack('>H', len(previous_signature)) + previous_signature + record_bytes


def iso_of(ms):
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{ms % 1000:03d}Z'


def ms_of(iso):
    moment = datetime.strptime(iso, '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000 + 0.5)


def compact_json(value):
    """JSON as the devices write a record's detail: no spaces, keys in the order given."""
    return json.dumps(value, separators=(',', ':'), ensure_ascii=False)


def request_record(kind, body):
    """The step-1 record a request stands for, as the transaction device rebuilds it."""
    record = {'transactionNumber': 0, 'remittanceId': body['requestId'],
              'dateTime': ms_of(body['dateTime'])}
    if kind == 'remittance':
        record.update(transactionType='remittance_request',
                      sourceAccount=int(body['sourceAccount']),
                      destinationAccount=int(body['destinationAccount']),
                      amount=int(body['amount']), currencyType=body['currencyType'],
                      signerKeyNumber=body['signerKeyNumber'])
    elif kind == 'account_issuing':
        record.update(transactionType='account_issuing_request', currencyType=body['currencyType'],
                      signerKeyNumber=body.get('keyNumber', 0))
        if 'publicKeyHex' in body:
            record['detail'] = compact_json({'publicKeyHex': body['publicKeyHex']})
    elif kind == 'account_closing':
        record.update(transactionType='account_closing_request',
                      sourceAccount=int(body['accountNumber']),
                      signerKeyNumber=body['signerKeyNumber'])
    elif kind == 'issuance':
        record.update(transactionType='issuance_request',
                      destinationAccount=int(body['destinationAccount']),
                      amount=sum(int(v) for v in body['values']),
                      currencyType=body['currencyType'],
                      detail=compact_json({'values': body['values']}),
                      signerKeyNumber=body['signerKeyNumber'])
    elif kind == 'redemption':
        record.update(transactionType='redemption_request', sourceAccount=int(body['sourceAccount']),
                      amount=int(body['amount']), currencyType=body['currencyType'],
                      signerKeyNumber=body['signerKeyNumber'])
    else:
        raise ValueError(f'unknown request kind {kind}')
    return record


def record_of_wire(wire):
    """A record as the API carries it (decimal strings, ISO times, hex) -> (values, signature)."""
    values = {}
    for name, kind, _ in RECORD_FIELDS:
        if name not in wire:
            continue
        value = wire[name]
        if kind == 'u64':
            value = int(value)
        elif kind == 'timestamp':
            value = ms_of(value)
        values[name] = value
    return values, bytes.fromhex(wire['signature'])


class Ed25519Key:
    def __init__(self, seed):
        self.seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)

    @classmethod
    def generate(cls):
        return cls(os.urandom(32))

    @property
    def public_key_hex(self):
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def sign(self, message):
        return self._private.sign(message)


class HmacKey:
    """A shared HMAC-SHA256 key (FIG. 6): the devices hold the same secret."""

    def __init__(self, secret):
        self.secret = secret

    def sign(self, message):
        return hmac.new(self.secret, message, hashlib.sha256).digest()


def sign_request(kind, body, key, signature_zero):
    """The request's body with its signature: the step-1 record, chained over signature 0."""
    record = request_record(kind, body)
    signature = key.sign(chain_message(signing_bytes(record), signature_zero))
    return dict(body, signature=signature.hex()), record, signature


def envelope_header(key, key_number, receiver, method, url, body=b'', now_ms=None, nonce=None):
    """The `triledger-signature` header of a signed read (docs/signing.md, the envelope)."""
    now_ms = now_ms if now_ms is not None else int(datetime.now(tz=timezone.utc).timestamp() * 1000)
    nonce = nonce if nonce is not None else os.urandom(16)
    path, _, query = url.partition('?')
    target = urllib.parse.unquote(path) + ('?' + query if query else '')
    message = b'TLM2'
    for text in (receiver, method, target):
        data = text.encode('utf-8')
        message += struct.pack('>H', len(data)) + data
    message += struct.pack('>q', now_ms) + nonce + hashlib.sha256(body).digest()
    return f'{key_number}.{now_ms}.{nonce.hex()}.{key.sign(message).hex()}', message


def verify_receipt(wire_records, request, request_signature, deployment, hmac_keys=None):
    """Check an answer's chain; returns what was checked. Raises ReceiptInvalid on any doubt.

    `hmac_keys`: the devices' shared HMAC keys by device name, for a holder of them (an operator
    with the terminal keys); without them an HMAC deployment's device links are not checkable here.
    """
    records = [record_of_wire(w) for w in wire_records]
    if not records:
        raise ReceiptInvalid('the answer carries no records')
    first, first_signature = records[0]
    if first_signature != request_signature or signing_bytes(first) != signing_bytes(request):
        raise ReceiptInvalid('the answer does not start with the request this client signed')
    base = first['transactionNumber']
    checked, not_checkable = ['a1: the request this client signed'], []
    previous = first_signature
    for values, signature in records[1:]:
        step = STEPS.get(values['transactionType'])
        signer = SIGNER_OF_STEP.get(step)
        if signer is None or values['remittanceId'] != first['remittanceId']:
            raise ReceiptInvalid(f'record {values["transactionNumber"]} is not of this operation')
        if values['transactionNumber'] != base + step - 1:
            raise ReceiptInvalid(f'a{step} is not numbered in the operation\'s block')
        if values['signerKeyNumber'] != deployment['deviceKeys'][signer]:
            raise ReceiptInvalid(f'a{step} is not signed by the {signer} device\'s key')
        public_key = (deployment.get('devicePublicKeys') or {}).get(signer)
        shared = (hmac_keys or {}).get(signer)
        message = chain_message(signing_bytes(values), previous)
        if public_key or shared:
            if not _verifies(public_key, shared, message, signature):
                raise ReceiptInvalid(f'a{step}: the {signer} device\'s signature does not verify')
            checked.append(f'a{step}: signed by {signer}, chained to the record before it')
        else:
            not_checkable.append(f'a{step}: {signer} signs with a shared HMAC key this client '
                                 'does not hold')
        previous = signature
    if STEPS[records[-1][0]['transactionType']] != 6:
        raise ReceiptInvalid('the answer has no response record')
    return {'checked': checked, 'notCheckable': not_checkable,
            'outcome': records[-1][0].get('outcome')}


def _verifies(public_key_hex, shared_key, message, signature):
    if public_key_hex:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(signature, message)
            return True
        except InvalidSignature:
            return False
    return hmac.compare_digest(HmacKey(shared_key).sign(message), signature)


def time_ordered_uuid(now_ms=None, random=None):
    """A request id that sorts by time (UUID version 7, RFC 9562): the ledger keys operations by it."""
    now_ms = now_ms if now_ms is not None else int(datetime.now(tz=timezone.utc).timestamp() * 1000)
    data = bytearray(now_ms.to_bytes(6, 'big') + (random if random is not None else os.urandom(10)))
    data[6] = 0x70 | (data[6] & 0x0F)
    data[8] = 0x80 | (data[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(data)))


class Opened:
    def __init__(self, account_number, key_number, receipt):
        self.account_number, self.key_number, self.receipt = account_number, key_number, receipt


class Client:
    def __init__(self, url):
        self.url = url.rstrip('/')
        self._deployment = None

    def deployment(self):
        """What a client must know of the deployment (public): signature 0, the device keys."""
        if self._deployment is None:
            self._deployment = self._http('GET', '/v1/deployment')[1]
        return self._deployment

    def open_account(self, currency_type, key):
        body = {'requestId': time_ordered_uuid(), 'currencyType': currency_type,
                'publicKeyHex': key.public_key_hex, 'dateTime': self._now()}
        answer, receipt = self._submit('/v1/accounts', 'account_issuing', body, key)
        account_number = int(answer['accountNumber'])
        key_number = self.deployment()['accountKeyNumberBase'] + account_number
        return Opened(account_number, key_number, receipt)

    def remit(self, source, destination, amount, currency_type, key, key_number):
        body = {'requestId': time_ordered_uuid(), 'sourceAccount': str(source),
                'destinationAccount': str(destination), 'amount': str(amount),
                'currencyType': currency_type, 'dateTime': self._now(),
                'signerKeyNumber': key_number}
        return self._submit('/v1/remittances', 'remittance', body, key)

    def account(self, account_number, key, key_number):
        """An account's balance: a read signed by the account's own key."""
        path = f'/v1/accounts/{account_number}'
        header, _ = envelope_header(key, key_number, 'transaction', 'GET', path)
        return self._http('GET', path, headers={ENVELOPE_HEADER: header})[1]

    def _submit(self, path, kind, body, key):
        zero = bytes.fromhex(self.deployment()['signatureZeroHex'])
        signed, record, signature = sign_request(kind, body, key, zero)
        status, answer = self._http('POST', path, signed, check=False)
        receipt = None
        if isinstance(answer.get('records'), list):
            receipt = verify_receipt(answer['records'], record, signature, self.deployment())
        if status != 200:
            error = answer.get('error', {})
            raise Refused(status, error.get('code'), error.get('message'), receipt)
        if receipt is None:
            raise ReceiptInvalid('a successful answer must carry its records')
        return answer, receipt

    def _http(self, method, path, body=None, headers=None, check=True):
        data = None if body is None else json.dumps(body).encode('utf-8')
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=dict(headers or {}))
        if data is not None:
            request.add_header('content-type', 'application/json')
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, json.loads(response.read() or b'{}')
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b'{}')
            if check:
                problem = answer.get('error', {})
                raise Refused(error.code, problem.get('code'), problem.get('message'))
            return error.code, answer

    @staticmethod
    def _now():
        return iso_of(int(datetime.now(tz=timezone.utc).timestamp() * 1000))
