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
