#!/usr/bin/env bash
# Bring the whole hotline up on this machine: Asterisk (system or sandbox), database, prompts, demo data,
# and the service (ARI app + FastAGI server + console). Safe to run again; `scripts/down.sh` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
HL=.venv/bin/hotline
[ -f hotline.toml ] || cp docs/hotline.example.toml hotline.toml
mkdir -p var
# Random secrets (console cookie key, phone secret, ARI password) into var/secrets.toml, mode 0600, before
# Asterisk and the service read them. Keeps the existing ones; prints names only, never a value.
$HL secrets generate

$HL db upgrade
$HL demo-data
$HL asterisk up       # its agent endpoints and queues come from the database
$HL prompts build     # into the instance's sounds dir

if [ -f var/hotline.pid ] && kill -0 "$(cat var/hotline.pid)" 2>/dev/null; then
  echo "service already running (pid $(cat var/hotline.pid)); restarting"
  kill "$(cat var/hotline.pid)"; sleep 1
fi
nohup $HL serve > var/hotline.log 2>&1 &
echo $! > var/hotline.pid
# Transcription + QA worker: needs a Vosk model ([vosk] model_path). Without one, calls are recorded and queued
# for transcription; start `hotline worker` once the model is installed and they are processed then.
if [ -f var/worker.pid ] && kill -0 "$(cat var/worker.pid)" 2>/dev/null; then kill "$(cat var/worker.pid)"; fi
if $HL worker-ready >/dev/null 2>&1; then
  nohup $HL worker > var/worker.log 2>&1 &
  echo $! > var/worker.pid
else
  echo "no Vosk model configured ([vosk] model_path): transcription jobs wait until \`hotline worker\` runs"
fi
url=$($HL console-url)
for _ in $(seq 1 100); do
  curl -fs "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$url/healthz" >/dev/null || { echo "service did not come up; see var/hotline.log"; tail -20 var/hotline.log; exit 1; }
$HL welcome
