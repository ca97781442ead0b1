#!/usr/bin/env bash
# Makes a local certificate authority and a server certificate it signed, for trying TLS:
#
#   scripts/make-cert.sh DIR [NAME...]
#
# writes DIR/ca.pem (give it to clients: chat --tls --tls-ca DIR/ca.pem), DIR/cert.pem and
# DIR/key.pem (give them to chatd: --tls-cert, --tls-key), valid for localhost, 127.0.0.1, ::1
# and any NAME given (a DNS name or an IP address). ECDSA P-256; needs openssl.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,8p' "$0"; exit 2; }
dir=$1
shift
mkdir -p "$dir"
cd "$dir"
names="DNS:localhost,IP:127.0.0.1,IP:::1"
for n in "$@"; do
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then names="$names,IP:$n"; else names="$names,DNS:$n"; fi
done
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086
openssl req -x509 $ec -days 3650 -subj "/CN=chatd local CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
# shellcheck disable=SC2086
openssl req $ec -subj "/CN=localhost" -keyout key.pem -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
    -out cert.pem -extfile <(printf '%s\n' "subjectAltName=$names" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=digitalSignature" \
        "extendedKeyUsage=serverAuth") 2>/dev/null
rm -f server.csr ca.srl
chmod 600 key.pem ca-key.pem
echo "$dir: ca.pem (for clients), cert.pem and key.pem (for chatd), for $names"
