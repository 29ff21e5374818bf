#!/usr/bin/env python3
"""A minimal WhisperLiveKit client, the baseline for TonnyTray's end-to-end
latency: streams a 16 kHz mono s16le raw file in 100 ms frames at real-time
pace, sends the empty end frame, and waits for ready_to_stop.

Prints the final transcript, then on stderr
`timings: {"end_to_final_ms": …}` (end frame sent → ready_to_stop), the
same measure `tonnytray transcribe --realtime --timings` reports.

Usage: wlk_client.py URL FILE.raw   (run with the server's venv python)
"""
import asyncio
import json
import sys
import time

import websockets

FRAME = 3200  # 100 ms of 16 kHz s16le


async def main(url: str, path: str) -> None:
    data = open(path, "rb").read()
    final = ""
    async with websockets.connect(url, max_size=None) as ws:

        async def receive() -> None:
            nonlocal final
            async for message in ws:
                msg = json.loads(message)
                if msg.get("type") == "ready_to_stop":
                    return
                if "lines" in msg:
                    text = "".join(l.get("text", "") for l in msg["lines"] if l.get("speaker") != -2)
                    final = (text + msg.get("buffer_transcription", "")).strip()

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(data), FRAME)):
            await ws.send(data[offset : offset + FRAME])
            delay = start + (i + 1) * 0.1 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        end_sent = time.monotonic()
        await ws.send(b"")
        await receiver
        flush_ms = (time.monotonic() - end_sent) * 1000
    print(" ".join(final.split()))
    print(f'timings: {{"end_to_final_ms":{flush_ms:.1f}}}', file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
