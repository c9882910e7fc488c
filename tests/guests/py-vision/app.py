"""py-vision: a Python scenario against volley:scenario@0.5.0 (a test guest).

Each request sends a text part and one image: from the granted folder `images`
(`granted-file`, the host reads and encodes it), or every fourth one from the
scenario's own bytes (`inline-media`). It keeps the response text and records the
check `answered` on every outcome.

Build: componentize-py -d wit -w scenario componentize app -o py-vision.wasm
"""

from typing import Optional

from wit_world import exports
from wit_world.exports.workload import Info
from wit_world.imports import checks, datasets
from wit_world.imports.types import (
    Api, Batch, ContentPart_Image, ContentPart_Text, GrantedFile, ImagePart, InlineMedia, Load_Constant,
    Media_Granted, Media_Inline, PartMessage, Plan, Prompt_ChatParts, Request, Stage,
)

# A one-pixel PNG of the scenario's own.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f6d0"
    "3c0000000049454e44ae426082"
)


class State:
    images = 1


STATE = State()


class Workload(exports.Workload):
    def describe(self) -> Info:
        return Info("py-vision", "0.1.0", "Images from a granted folder, checked (Python, WIT 0.5)")

    def configure(self, params: str) -> Plan:
        STATE.images = datasets.Dataset.open("images").len()
        stage = Stage("vision", Load_Constant(50.0), 10_000, 12, None, None, None)
        return Plan([stage], observe_outcomes=True, adaptive=False)

    def next_requests(self, stage: int, seq: int, max: int) -> Batch:
        return Batch([request(seq + i) for i in range(max)], False)

    def on_outcome(self, outcome) -> None:
        checks.check("answered", outcome.ok and bool(outcome.text))
        checks.check("fast", outcome.latency_ns < 5_000_000_000)

    def next_stage(self, results) -> Optional[Stage]:
        return None


def request(seq: int) -> Request:
    if seq % 4 == 3:
        media = Media_Inline(InlineMedia("image/png", PIXEL))
    else:
        media = Media_Granted(GrantedFile("images", seq % STATE.images))
    parts = [ContentPart_Text("What is in this picture?"), ContentPart_Image(ImagePart(media, "low"))]
    return Request(
        api=Api.CHAT_COMPLETIONS, model=None, prompt=Prompt_ChatParts([PartMessage("user", parts)]),
        max_tokens=4, stream=True, headers=[], body_extra=None, tag=None, session=None,
        prompt_tokens=None, inputs=[], model_version=None, body=None, method=None,
        path=None, batch_size=None, gap_ns=None, keep_text=True,
    )
