# Sourced by the bench scripts. relay_config FILE PORT SINK_PORT SPOOL_DIR writes the smarthost
# configuration they measure: default settings, relaying with no TLS and no AUTH to smtp-sink.
relay_config() {
  cat > "$1" <<TOML
[server]
listen = ["127.0.0.1:$2"]
hostname = "smarthost.bench"

[spool]
dir = "$4"

[[upstream]]
name = "sink"
host = "127.0.0.1"
port = $3
conn = "plaintext"
auth = "none"
TOML
}

# relay_policy FILE POLICY WORKDIR appends the sections of one policy to FILE:
#   rewrite      [rewrite] From and envelope sender, Reply-To to the original, a text signature
#   dkim-rsa     [dkim] RSA-2048 for example.test (the domain smtp-source's From: is in)
#   realistic    rewrite + dkim-rsa
#   realistic-ed25519   rewrite + [dkim] Ed25519
# Keys are made once in WORKDIR with `smarthost dkim keygen` (SMARTHOST = the binary).
relay_policy() {
  local file=$1 policy=$2 work=$3 key=""
  case "$policy" in
    rewrite|realistic|realistic-ed25519)
      cat >> "$file" <<TOML

[rewrite]
from = "payroll@example.test"
from_name = "Payroll"
reply_to = "original"
signature_text = "ACME SA - Rue du Lac 1 - 1000 Lausanne - +41 21 555 00 00"
TOML
      ;;
  esac
  case "$policy" in
    dkim-rsa|realistic) key=rsa ;;
    realistic-ed25519) key=ed25519 ;;
  esac
  if [ -n "$key" ]; then
    [ -f "$work/dkim-$key.pem" ] || "$SMARTHOST" dkim keygen --algorithm "$key" \
      --domain example.test --selector "$key" --out "$work/dkim-$key.pem" >/dev/null
    cat >> "$file" <<TOML

[dkim]
domain = "example.test"
selector = "$key"
key_file = "$work/dkim-$key.pem"
TOML
  fi
}
